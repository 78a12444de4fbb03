import CreditsCore
import CreditsKafka
import CreditsService
import CreditsTestSupport
import Foundation
import Testing

@testable import CreditsStore

/// The value of a metric series in a Prometheus exposition, or 0.
func metricValue(_ exposition: String, _ series: String) -> Double {
    exposition.split(separator: "\n").first { $0.hasPrefix(series + " ") }
        .flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
}

@Suite("Fault injection through the embedded broker's fault API", .serialized)
struct FaultInjectionTests {
    /// Enables `customers` with 6 credits a minute and waits for the results.
    func enable(_ h: ServiceHarness, _ customers: [String]) async throws {
        try await h.sendAll(
            h.configuration.topics.commands,
            customers.map {
                (h.command("en-\($0)", $0, "enable_credits", #""settings":{"price_per_minute":"6"}"#), $0)
            })
        try await h.waitFor("credits.command-results", count: customers.count)
    }

    func usage(_ h: ServiceHarness, _ customers: [String], _ range: Range<Int>) -> [(json: String, key: String)] {
        range.map { index in
            let customer = customers[index % customers.count]
            return (h.usage("ev-\(index)", customer, #""call_seconds":\#(index % 50 + 1)"#), customer)
        }
    }

    /// Every usage event applied once (exact balances, gapless ids), every entry published, the
    /// outbox emptied, and (when `ordered`) the first copy of each customer's events in entry order.
    func expectExactlyOnce(
        _ h: ServiceHarness, _ customers: [String], total: Int, ordered: Bool = true
    ) async throws {
        try await h.expectExactBalances(customers, total: total, timeout: 90) { Int64($0 % 50 + 1) * 100_000 }
        // Everything acknowledged (the store forgets a delivered prefix), then read to the end.
        try await waitUntil(timeout: 60, "the outbox to empty") { try h.reader().outboxDepth() == 0 }
        let published = try await h.waitForDistinct("credits.balance-changed", count: total, timeout: 60)
        await h.drainOutputs(milliseconds: 2_000)
        // Every entry has its balance-changed event: name the ones never read, and the copies read.
        var missing: [String] = []
        for customer in customers {
            let last = try h.reader().account(customer)?.lastEntryID ?? 0
            missing += (0..<last).map { "\(customer)/\($0 + 1)/balance-changed" }.filter { !published.contains($0) }
        }
        let read = (h.outputs["credits.balance-changed"] ?? []).count
        // On a failure, the broker's end offsets against what the tail read tell a message never
        // appended to the log (acknowledged all the same) from one appended and not read.
        let logs =
            published.count == total
            ? ""
            : "; end offsets \((try? h.endOffsets("credits.balance-changed")) ?? [:]), read per partition \(h.readCounts["credits.balance-changed"] ?? [:])"
        #expect(published.count == total, "missing \(missing.prefix(20)); \(read) messages read in all\(logs)")
        if ordered { #expect(h.outOfOrderEntries() == []) }
    }

    /// Output in flight when the broker goes down: 1 s acknowledgements, then 10 s of outage.
    func outputThroughOutage(_ h: ServiceHarness, ordered: Bool) async throws {
        try await h.start()
        let customers = (0..<6).map { "cus_f\($0)" }
        try await enable(h, customers)
        let total = 3_000
        h.broker.setRoundTripTime(1_000)  // slow acknowledgements: output is in flight when the broker goes down
        try await h.sendAll(h.configuration.topics.usage, usage(h, customers, 0..<total))
        try await waitUntil(timeout: 30, "some usage to be applied") {
            try h.reader().account(customers[0])?.lastEntryID ?? 0 > 20
        }
        h.broker.setDown()
        try await Task.sleep(for: .seconds(10))
        h.broker.setRoundTripTime(0)
        try h.broker.setUp()
        try await expectExactlyOnce(h, customers, total: total, ordered: ordered)
    }

    @Test(
        "broker down for 10 s while output is in flight (default: no message timeout): delivered when it returns, nothing lost or reordered"
    )
    func brokerDownDuringOutput() async throws {
        let h = try ServiceHarness(partitions: 3) { $0.batchMaxMessages = 100 }
        try await outputThroughOutage(h, ordered: true)
        try await h.stop()
    }

    /// With a finite `message.timeout.ms` librdkafka fails the queued messages whose time passed
    /// yet writes later ones of the partition (its documented gap, see
    /// `LedgerPipeline.outboxProducerSettings`), so order across the outage is not promised; the
    /// failed ones must still be sent again: nothing lost.
    @Test("broker down for 10 s with a 1.5 s message timeout: failed deliveries are sent again, nothing lost")
    func brokerDownWithMessageTimeout() async throws {
        let h = try ServiceHarness(partitions: 3) { configuration in
            configuration.kafkaProperties["message.timeout.ms"] = "1500"
            configuration.batchMaxMessages = 100
        }
        try await outputThroughOutage(h, ordered: false)
        let metrics = try #require(h.server?.metrics.exposition())
        #expect(metricValue(metrics, "credits_produce_errors_total") > 0, "the outage made deliveries fail")
        try await h.stop()
    }

    @Test("a store that cannot be written: readiness 503 with the reason, nothing of the batch applied, recovery when it can")
    func storeCannotBeWritten() async throws {
        let h = try ServiceHarness(partitions: 2)
        try await h.start()
        let customers = (0..<4).map { "cus_s\($0)" }
        try await enable(h, customers)
        try await h.sendAll(h.configuration.topics.usage, usage(h, customers, 0..<200))
        try await waitUntil(timeout: 30, "the first 200 events") {
            try customers.reduce(0) { $0 + (try h.reader().account($1)?.lastEntryID ?? 0) } == 200
        }
        // Another process holds the store's write lock (SQLite answers BUSY after the 5 s timeout).
        let blocker = try SQLiteConnection(path: h.configuration.storePath)
        try blocker.execute("BEGIN IMMEDIATE")
        try await h.sendAll(h.configuration.topics.usage, usage(h, customers, 200..<400))
        try await waitUntil(timeout: 30, "readiness to report the store") { h.server?.status.snapshot.storeError != nil }
        let snapshot = try #require(h.server?.status.snapshot)
        #expect(!snapshot.isReady)
        #expect(
            snapshot.storeError?.contains("locked") == true || snapshot.storeError?.contains("busy") == true,
            "\(snapshot.storeError ?? "")")
        let (status, body) = try await httpGet(h.httpPort, "/readyz")
        #expect(status == 503)
        #expect(body.contains("store_error"))
        #expect(
            try customers.reduce(0) { $0 + (try h.reader().account($1)?.lastEntryID ?? 0) } == 200,
            "nothing of the refused batch is applied")
        try blocker.execute("ROLLBACK")
        try await h.expectExactBalances(customers, total: 400, timeout: 60) { Int64($0 % 50 + 1) * 100_000 }
        try await waitUntil(timeout: 40, "readiness again") { h.server?.status.snapshot.isReady == true }
        try await h.stop()
    }

    @Test("retriable Produce and Fetch errors and a 500 ms round trip: every input applied once, every entry published in order")
    func retriableErrorsAndLatency() async throws {
        let h = try ServiceHarness(partitions: 3)
        try await h.start()
        let customers = (0..<6).map { "cus_r\($0)" }
        try await enable(h, customers)
        let total = 5_000
        try await h.sendAll(h.configuration.topics.usage, usage(h, customers, 0..<total))
        // NOT_LEADER_OR_FOLLOWER (6) and REQUEST_TIMED_OUT (7), which clients retry.
        h.broker.failNext(.produce, with: Array(repeating: [6, 7], count: 15).flatMap { $0 })
        h.broker.failNext(.fetch, with: Array(repeating: [6, 7], count: 15).flatMap { $0 })
        h.broker.setRoundTripTime(500)
        try await Task.sleep(for: .seconds(5))
        h.broker.setRoundTripTime(0)
        try await expectExactlyOnce(h, customers, total: total)
        try await h.stop()
    }

    /// Inputs that cannot be applied, each with the code its dead letter must carry.
    static let badInputs: [(name: String, topic: InputKind, payload: [UInt8], key: String?, code: String)] = {
        let usage = { (fields: String) in
            Array(#"{"event_id":"bad","customer_id":"cus_x","occurred_at":"2026-11-24T10:00:00Z",\#(fields)}"#.utf8)
        }
        let command = { (type: String, fields: String) in
            Array(
                (#"{"command_id":"bad","customer_id":"cus_x","issued_at":"2026-11-24T10:00:00Z","actor":"a","type":"\#(type)""#
                    + (fields.isEmpty ? "" : "," + fields) + "}").utf8)
        }
        let deep = Array(String(repeating: "[", count: 10_000).utf8) + Array(String(repeating: "]", count: 10_000).utf8)
        return [
            ("invalid UTF-8", .usage, [0x7B, 0xFF, 0xFE, 0x7D], "cus_x", "invalid_json"),
            ("a NUL byte", .usage, usage(#""call_seconds":1"#).dropLast() + [0x00, 0x7D], "cus_x", "invalid_json"),
            ("10 000-deep nesting", .usage, deep, "cus_x", "invalid_json"),
            ("1e400", .usage, usage(#""call_seconds":1e400"#), "cus_x", "invalid_usage"),
            ("-0 credits", .command, command("add_credits", #""amount":-0,"note":"n""#), "cus_x", "invalid_command"),
            ("duplicate keys", .usage, usage(#""call_seconds":1,"call_seconds":2"#), "cus_x", "invalid_json"),
            ("a byte-order mark", .usage, [0xEF, 0xBB, 0xBF] + usage(#""call_seconds":1"#), "cus_x", "invalid_json"),
            (
                "1 MiB", .usage, usage(#""call_id":"\#(String(repeating: "x", count: 1 << 20))","call_seconds":1"#), "cus_x",
                "too_large"
            ),
            ("null", .usage, Array("null".utf8), "cus_x", "invalid_json"),
            ("a number", .usage, Array("42".utf8), "cus_x", "invalid_json"),
            ("a string", .usage, Array(#""usage""#.utf8), "cus_x", "invalid_json"),
            ("an array", .command, Array("[]".utf8), "cus_x", "invalid_json"),
            ("empty", .usage, [], "cus_x", "invalid_json"),
            ("truncated", .usage, Array(#"{"event_id":"#.utf8), "cus_x", "invalid_json"),
            ("trailing garbage", .usage, usage(#""call_seconds":1"#) + Array(" x".utf8), "cus_x", "invalid_json"),
            ("a lone surrogate", .usage, usage(#""call_id":"\ud800","call_seconds":1"#), "cus_x", "invalid_json"),
            (
                "empty event_id", .usage,
                Array(#"{"event_id":"","customer_id":"cus_x","occurred_at":"2026-11-24T10:00:00Z","call_seconds":1}"#.utf8),
                "cus_x", "invalid_usage"
            ),
            (
                "event_id of 201", .usage,
                Array(
                    #"{"event_id":"\#(String(repeating: "e", count: 201))","customer_id":"cus_x","occurred_at":"2026-11-24T10:00:00Z","call_seconds":1}"#
                        .utf8), "cus_x", "invalid_usage"
            ),
            (
                "customer_id of 129", .usage,
                Array(
                    #"{"event_id":"e","customer_id":"\#(String(repeating: "c", count: 129))","occurred_at":"2026-11-24T10:00:00Z","call_seconds":1}"#
                        .utf8), nil, "invalid_usage"
            ),
            (
                "customer_id with a space", .usage,
                Array(#"{"event_id":"e","customer_id":"cus x","occurred_at":"2026-11-24T10:00:00Z","call_seconds":1}"#.utf8), nil,
                "invalid_usage"
            ),
            ("call_seconds 86401", .usage, usage(#""call_seconds":86401"#), "cus_x", "invalid_usage"),
            ("call_seconds -1", .usage, usage(#""call_seconds":-1"#), "cus_x", "invalid_usage"),
            ("call_seconds 1.5", .usage, usage(#""call_seconds":1.5"#), "cus_x", "invalid_usage"),
            ("call_seconds as text", .usage, usage(#""call_seconds":"60""#), "cus_x", "invalid_usage"),
            ("tool_calls 100001", .usage, usage(#""tool_calls":100001"#), "cus_x", "invalid_usage"),
            ("negative AI cost", .usage, usage(#""ai_costs_usd":{"llm":"-0.01"}"#), "cus_x", "invalid_usage"),
            ("AI cost with 10 decimals", .usage, usage(#""ai_costs_usd":{"llm":"0.0000000001"}"#), "cus_x", "invalid_usage"),
            ("AI costs not an object", .usage, usage(#""ai_costs_usd":"0.1""#), "cus_x", "invalid_usage"),
            (
                "occurred_at not RFC 3339", .usage,
                Array(#"{"event_id":"e","customer_id":"cus_x","occurred_at":"yesterday","call_seconds":1}"#.utf8), "cus_x",
                "invalid_usage"
            ),
            ("no usage at all", .usage, usage(#""call_id":"c""#), "cus_x", "invalid_usage"),
            ("key mismatch", .usage, usage(#""call_seconds":1"#), "cus_y", "key_mismatch"),
            ("unknown command type", .command, command("mint_credits", ""), "cus_x", "invalid_command"),
            (
                "amount over 1e12", .command, command("add_credits", #""amount":"1000000000001","note":"n""#), "cus_x",
                "invalid_command"
            ),
            (
                "amount with 7 decimals", .command, command("add_credits", #""amount":"1.0000001","note":"n""#), "cus_x",
                "invalid_command"
            ),
            (
                "note of 501", .command, command("add_credits", #""amount":"1","note":"\#(String(repeating: "n", count: 501))""#),
                "cus_x", "invalid_command"
            ),
            (
                "deduct reason theft", .command, command("deduct_credits", #""amount":"1","reason":"theft","note":"n""#), "cus_x",
                "invalid_command"
            ),
            (
                "grace period 604801", .command, command("configure", #""grace_period_seconds":604801"#), "cus_x",
                "invalid_command"
            ),
            ("negative threshold", .command, command("configure", #""low_credit_threshold":"-1""#), "cus_x", "invalid_command"),
        ]
    }()

    @Test("a corpus of 38 kinds of bad input: each dead-lettered with its code, nothing applied, the service keeps going")
    func badInputCorpus() async throws {
        let h = try ServiceHarness(partitions: 2)
        try await h.start()
        try await enable(h, ["cus_x"])
        for input in Self.badInputs {
            let topic = input.topic == .usage ? h.configuration.topics.usage : h.configuration.topics.commands
            try await h.sendAll(topic, [(String(decoding: input.payload, as: UTF8.self), input.key ?? "")])
        }
        try await h.sendUsage(h.usage("good", "cus_x", #""call_seconds":60"#), key: "cus_x")
        try await h.waitFor("credits.balance-changed", where: { $0["customer_id"]?.text == "cus_x" })
        let letters = try await h.waitFor("credits.dead-letter", count: Self.badInputs.count)
        #expect(letters.count == Self.badInputs.count)
        let codes = letters.map { $0["error"]?["code"]?.text ?? "" }
        #expect(
            codes.sorted() == Self.badInputs.map(\.code).sorted(),
            "\(zip(Self.badInputs.map(\.name), codes).map { "\($0): \($1)" })")
        #expect(try h.reader().account("cus_x")?.lastEntryID == 1, "only the good event made an entry")
        #expect(try h.reader().account("cus_x")?.balance.description == "-6")
        #expect(h.server?.status.snapshot.isReady == true)
        print("fault figures: \(Self.badInputs.count) kinds of bad input dead-lettered, 0 applied")
        try await h.stop()
    }
}

@Suite("Crashes and stops of the real process under a heavy stream", .serialized)
struct ProcessFaultTests {
    @Test(
        "kill -9 three times at random points and one SIGTERM over 50 000 events: each applied once, every entry published in order"
    )
    func killsAndStops() async throws {
        let h = try ServiceHarness(partitions: 4)
        var random = SeededGenerator(state: 20_261_129)
        let environment = h.executableEnvironment([
            "CREDITS_KAFKA_SESSION_TIMEOUT_MS": "6000", "CREDITS_PIPELINE_BATCH_MAX_MESSAGES": "2000",
        ])
        let customers = (0..<40).map { "cus_p\($0)" }
        let total = 50_000
        var serve = try RunningExecutable(["serve"], environment: environment, directory: h.directory)
        // Usage and commands are different topics: enable every customer before its usage.
        try await FaultInjectionTests().enable(h, customers)
        try await h.sendAll(
            h.configuration.topics.usage,
            (0..<total).map { index in
                let customer = customers[index % customers.count]
                return (h.usage("ev-\(index)", customer, #""call_seconds":\#(index % 50 + 1)"#), customer)
            })
        func applied() -> Int {
            guard let reader = try? h.reader() else { return 0 }
            return customers.reduce(0) { $0 + Int((try? reader.account($1))??.lastEntryID ?? 0) }
        }
        var interruptions: [String] = []
        let points = (0..<4).map { _ in Int.random(in: 2_000..<45_000, using: &random) }.sorted()
        for (number, point) in points.enumerated() {
            do {
                try await waitUntil(timeout: 60, "\(point) events applied") { applied() >= point }
            } catch {
                Issue.record("\(error); applied \(applied()); the service said:\n\(serve.output.suffix(4000))")
                throw error
            }
            if number == 2 {
                // SIGTERM once the process runs (before its signal handlers exist it would just die).
                try await serve.waitForOutput(containing: "Partitions assigned", timeout: 60)
                serve.process.terminate()  // SIGTERM: drain and exit 0
                #expect(try await serve.waitForExit(timeout: 30) == 0, "\(serve.output.suffix(1500))")
                interruptions.append("SIGTERM at \(applied())")
            } else {
                kill(serve.process.processIdentifier, SIGKILL)
                _ = try await serve.waitForExit(timeout: 10)
                interruptions.append("kill -9 at \(applied())")
            }
            serve = try RunningExecutable(["serve"], environment: environment, directory: h.directory)
        }
        do {
            try await h.expectExactBalances(customers, total: total, timeout: 60) { Int64($0 % 50 + 1) * 100_000 }
        } catch {
            Issue.record("\(error); applied \(applied()); \(interruptions); the service said:\n\(serve.output.suffix(4000))")
            throw error
        }
        try await waitUntil(timeout: 60, "the outbox to empty") { try h.reader().outboxDepth() == 0 }
        let published = try await h.waitForDistinct("credits.balance-changed", count: total, timeout: 60)
        await h.drainOutputs(milliseconds: 1_000)
        #expect(published.count == total, "\(interruptions)")
        #expect(h.outOfOrderEntries() == [], "\(interruptions)")
        serve.process.terminate()
        #expect(try await serve.waitForExit(timeout: 30) == 0)
        print("fault figures: \(total) events, interruptions: \(interruptions)")
    }

    /// On librdkafka's mock broker a dead member costs two join rounds of (session timeout - 1 s)
    /// each (19 s and 11 s measured); a real Kafka broker needs about one session timeout. The
    /// bounds leave room for a loaded machine (21.7 s once with the whole suite on two cores).
    @Test(
        "back to work after a kill -9: within 25 s at the default 10 s session timeout, 15 s at 6 s",
        arguments: [(nil, 25.0), ("6000", 15.0)] as [(String?, Double)])
    func recoveryAfterKill(sessionTimeout: String?, bound: Double) async throws {
        let h = try ServiceHarness(partitions: 2)
        let environment = h.executableEnvironment(sessionTimeout.map { ["CREDITS_KAFKA_SESSION_TIMEOUT_MS": $0] } ?? [:])
        var serve = try RunningExecutable(["serve"], environment: environment, directory: h.directory)
        try await serve.waitForOutput(containing: "Partitions assigned", timeout: 60)
        try await FaultInjectionTests().enable(h, ["cus_t"])
        kill(serve.process.processIdentifier, SIGKILL)
        _ = try await serve.waitForExit(timeout: 10)
        let killed = Date()
        serve = try RunningExecutable(["serve"], environment: environment, directory: h.directory)
        try await h.sendUsage(h.usage("after-kill", "cus_t", #""call_seconds":6"#), key: "cus_t")
        try await waitUntil(timeout: 60, "the event sent after the kill to be applied") {
            try h.reader().account("cus_t")?.lastEntryID == 1
        }
        let seconds = Date().timeIntervalSince(killed)
        print(
            "fault figures: back to work \(String(format: "%.1f", seconds)) s after kill -9 "
                + "(session timeout \(sessionTimeout ?? "10000") ms)")
        #expect(seconds <= bound)
        serve.process.terminate()
        #expect(try await serve.waitForExit(timeout: 30) == 0)
    }
}
