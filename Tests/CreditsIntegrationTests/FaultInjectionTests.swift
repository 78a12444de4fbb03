import CreditsCore
import CreditsKafka
import CreditsService
import CreditsTestSupport
@testable import CreditsStore
import Foundation
import Testing

/// The value of a metric series in a Prometheus exposition, or 0.
func metricValue(_ exposition: String, _ series: String) -> Double {
    exposition.split(separator: "\n").first { $0.hasPrefix(series + " ") }
        .flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
}

@Suite("Fault injection through the embedded broker's fault API", .serialized)
struct FaultInjectionTests {
    /// Enables `customers` with 6 credits a minute and waits for the results.
    func enable(_ h: ServiceHarness, _ customers: [String]) throws {
        try h.sendAll(h.configuration.topics.commands, customers.map {
            (h.command("en-\($0)", $0, "enable_credits", #""settings":{"price_per_minute":"6"}"#), $0)
        })
        try h.waitFor("credits.command-results", count: customers.count)
    }

    func usage(_ h: ServiceHarness, _ customers: [String], _ range: Range<Int>) -> [(json: String, key: String)] {
        range.map { index in
            let customer = customers[index % customers.count]
            return (h.usage("ev-\(index)", customer, #""call_seconds":\#(index % 50 + 1)"#), customer)
        }
    }

    /// Every usage event applied once (exact balances, gapless ids), every entry published, the
    /// last copy of each customer's events in entry order, the outbox emptied.
    func expectExactlyOnce(_ h: ServiceHarness, _ customers: [String], total: Int) async throws {
        try await h.expectExactBalances(customers, total: total, timeout: 90) { Int64($0 % 50 + 1) * 100_000 }
        // Everything acknowledged (the store forgets a delivered prefix), then read to the end.
        try await waitUntil(timeout: 60, "the outbox to empty") { try h.reader().outboxDepth() == 0 }
        let published = try h.waitForDistinct("credits.balance-changed", count: total, timeout: 60)
        h.drainOutputs(timeoutMilliseconds: 2_000)
        #expect(published.count == total)
        #expect(h.outOfOrderEntries() == [])
    }

    @Test("broker down while output is in flight: failed deliveries are sent again in order, nothing lost or reordered")
    func brokerDownDuringOutput() async throws {
        let h = try ServiceHarness(partitions: 3) { configuration in
            configuration.kafkaProperties["message.timeout.ms"] = "1500"
            configuration.batchMaxMessages = 100
        }
        try await h.start()
        let customers = (0..<6).map { "cus_f\($0)" }
        try enable(h, customers)
        let total = 3_000
        h.broker.setRoundTripTime(1_000)   // slow acknowledgements: output is in flight when the broker goes down
        try h.sendAll(h.configuration.topics.usage, usage(h, customers, 0..<total))
        try await waitUntil(timeout: 30, "some usage to be applied") {
            try h.reader().account(customers[0])?.lastEntryID ?? 0 > 20
        }
        h.broker.setDown()
        try await Task.sleep(for: .seconds(4))
        h.broker.setRoundTripTime(0)
        h.broker.setUp()
        try await expectExactlyOnce(h, customers, total: total)
        let metrics = try #require(h.server?.metrics.exposition())
        #expect(metricValue(metrics, "credits_produce_errors_total") > 0, "the outage made deliveries fail")
        try await h.stop()
    }

    @Test("a store that cannot be written: readiness 503 with the reason, nothing of the batch applied, recovery when it can")
    func storeCannotBeWritten() async throws {
        let h = try ServiceHarness(partitions: 2)
        try await h.start()
        let customers = (0..<4).map { "cus_s\($0)" }
        try enable(h, customers)
        try h.sendAll(h.configuration.topics.usage, usage(h, customers, 0..<200))
        try await waitUntil(timeout: 30, "the first 200 events") {
            try customers.reduce(0) { $0 + (try h.reader().account($1)?.lastEntryID ?? 0) } == 200
        }
        // Another process holds the store's write lock (SQLite answers BUSY after the 5 s timeout).
        let blocker = try SQLiteConnection(path: h.configuration.storePath)
        try blocker.execute("BEGIN IMMEDIATE")
        try h.sendAll(h.configuration.topics.usage, usage(h, customers, 200..<400))
        try await waitUntil(timeout: 30, "readiness to report the store") { h.server?.status.snapshot.storeError != nil }
        let snapshot = try #require(h.server?.status.snapshot)
        #expect(!snapshot.isReady)
        #expect(snapshot.storeError?.contains("locked") == true || snapshot.storeError?.contains("busy") == true,
                "\(snapshot.storeError ?? "")")
        let (status, body) = try await httpGet(h.httpPort, "/readyz")
        #expect(status == 503)
        #expect(body.contains("store_error"))
        #expect(try customers.reduce(0) { $0 + (try h.reader().account($1)?.lastEntryID ?? 0) } == 200,
                "nothing of the refused batch is applied")
        try blocker.execute("ROLLBACK")
        try await h.expectExactBalances(customers, total: 400, timeout: 60) { Int64($0 % 50 + 1) * 100_000 }
        try await waitUntil(timeout: 40, "readiness again") { h.server?.status.snapshot.isReady == true }
        try await h.stop()
    }
}

@Suite("Crashes and stops of the real process under a heavy stream", .serialized)
struct ProcessFaultTests {
    @Test("kill -9 three times at random points and one SIGTERM over 50 000 events: each applied once, every entry published in order")
    func killsAndStops() async throws {
        let h = try ServiceHarness(partitions: 4)
        var random = SeededGenerator(state: 20_261_129)
        let environment = [
            "CREDITS_KAFKA_BROKERS": h.broker.bootstrapServers, "CREDITS_KAFKA_GROUP_ID": h.configuration.groupID,
            "CREDITS_STORE_PATH": h.configuration.storePath, "CREDITS_HTTP_PORT": "0",
            "CREDITS_KAFKA_SESSION_TIMEOUT_MS": "6000", "CREDITS_PIPELINE_BATCH_MAX_MESSAGES": "2000",
        ]
        let customers = (0..<40).map { "cus_p\($0)" }
        let total = 50_000
        var serve = try RunningExecutable(["serve"], environment: environment, directory: h.directory)
        // Usage and commands are different topics: enable every customer before its usage.
        try FaultInjectionTests().enable(h, customers)
        try h.sendAll(h.configuration.topics.usage, (0..<total).map { index in
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
                serve.process.terminate()   // SIGTERM: drain and exit 0
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
        let published = try h.waitForDistinct("credits.balance-changed", count: total, timeout: 60)
        h.drainOutputs(timeoutMilliseconds: 1_000)
        #expect(published.count == total, "\(interruptions)")
        #expect(h.outOfOrderEntries() == [], "\(interruptions)")
        serve.process.terminate()
        #expect(try await serve.waitForExit(timeout: 30) == 0)
        print("fault figures: \(total) events, interruptions: \(interruptions)")
    }
}
