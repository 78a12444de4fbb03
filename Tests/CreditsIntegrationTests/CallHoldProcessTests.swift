import CreditsCore
import CreditsPostgres
import CreditsStore
import CreditsTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Holds through crashes of the real process and partitions moving between instances.
@Suite("Call holds through kill -9 and moving partitions", .serialized)
struct CallHoldProcessTests {
    static let grants = "credits.call-grants"

    /// The decisions read so far, one per event_id; fails the test when an event_id came with two
    /// contents (a decision made twice differently: a hold applied twice or lost).
    func distinctDecisions(_ h: ServiceHarness) -> [String: [String: JSONValue]] {
        var contents: [String: String] = [:]
        var decisions: [String: [String: JSONValue]] = [:]
        for output in h.rawOutputs where output.topic == Self.grants {
            guard case .object(let fields)? = try? JSONParser.parse(Array(output.json.utf8)),
                let id = fields["event_id"]?.text
            else { continue }
            if let earlier = contents[id] {
                #expect(earlier == output.json, "event_id \(id) with two contents")
            } else {
                contents[id] = output.json
                decisions[id] = fields
            }
        }
        return decisions
    }

    /// Reads output until `condition` holds, or fails after `timeout`.
    func waitForOutput(
        _ h: ServiceHarness, timeout: TimeInterval, _ what: String, _ condition: () -> Bool
    ) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            guard Date() < deadline else { throw HarnessError("timed out waiting for \(what)") }
            await h.drainOutputs(milliseconds: 100)
        }
    }

    func start(_ h: ServiceHarness, _ customer: String, _ call: String) -> (json: String, key: String) {
        CallHoldIntegrationTests().callEvent(h, "call_started", customer, call)
    }

    func end(_ h: ServiceHarness, _ customer: String, _ call: String) -> (json: String, key: String) {
        CallHoldIntegrationTests().callEvent(h, "call_ended", customer, call)
    }

    /// Every customer's live calls and held credits as the store has them, against `calls` and
    /// `held` each, and the distinct grants on the topic against the live calls.
    func expectHolds(
        _ reader: any LedgerReading, _ customers: [String], calls: Int, held: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        for customer in customers {
            let account = try #require(try reader.snapshot { () throws(StoreError) in try reader.account(customer) })
            #expect(account.calls.live.count == calls, "\(customer)", sourceLocation: sourceLocation)
            #expect(account.held.description == held, "\(customer)", sourceLocation: sourceLocation)
        }
    }

    @Test("kill -9 in the middle of 2 000 call starts: after recovery every customer holds exactly 20 full holds")
    func killDuringBurstOfStarts() async throws {
        let h = try ServiceHarness(partitions: 4)
        let environment = h.executableEnvironment([
            "CREDITS_KAFKA_SESSION_TIMEOUT_MS": "6000", "CREDITS_PIPELINE_BATCH_MAX_MESSAGES": "200",
        ])
        var serve = try RunningExecutable(["serve"], environment: environment, directory: h.directory)
        let customers = (0..<20).map { "cus_k\($0)" }
        try await CallHoldIntegrationTests().prepare(h, customers, credits: 600)
        try await h.sendAll(
            h.configuration.topics.usage, (0..<100).flatMap { n in customers.map { start(h, $0, "c\(n)") } })
        /// Calls with a decision kept in the store (live, or among the recent ones).
        func decided() -> Int {
            guard let reader = try? h.reader() else { return 0 }
            return customers.reduce(0) { total, customer in
                let calls = (try? reader.account(customer))??.calls
                return total + (calls?.recent.count ?? 0) + (calls?.live.count ?? 0)
            }
        }
        try await waitUntil(timeout: 60, "some starts to be applied") { decided() >= 150 }
        kill(serve.process.processIdentifier, SIGKILL)
        _ = try await serve.waitForExit(timeout: 10)
        let atKill = decided()
        serve = try RunningExecutable(["serve"], environment: environment, directory: h.directory)
        try await waitForOutput(h, timeout: 90, "a decision for each of the 2 000 starts") { distinctDecisions(h).count >= 2_000 }
        let decisions = distinctDecisions(h)
        #expect(decisions.count == 2_000, "killed with \(atKill) decided")
        for customer in customers {
            let mine = decisions.values.filter { $0["customer_id"]?.text == customer }
            #expect(mine.filter { $0["decision"]?.text == "granted" }.count == 20, "\(customer)")
            #expect(mine.filter { $0["decision"]?.text == "denied" }.count == 80, "\(customer)")
        }
        try expectHolds(try h.reader(), customers, calls: 20, held: "600")
        print("fault figures: kill -9 after \(atKill) of 2 000 call starts; 20 holds of 30 per customer after recovery")
        serve.process.terminate()
        #expect(try await serve.waitForExit(timeout: 30) == 0)
    }

    @Test("two instances on one PostgreSQL store, one killed while calls are live: its partitions move, no hold lost or doubled")
    func partitionsMoveWhileCallsAreLive() async throws {
        let postgres = try PostgresServer.shared()
        let (url, _) = try ManyInstancesTests.database(on: postgres, "holds")
        let h = try ServiceHarness(partitions: 4)
        let environment = ManyInstancesTests.environment(h, storeURL: url)
        let instances = try ["a", "b"].map {
            try ManyInstancesTests.Instance($0, environment: environment, directory: h.directory)
        }
        defer {
            for instance in instances where instance.process.process.isRunning {
                kill(instance.process.process.processIdentifier, SIGKILL)
            }
        }
        for instance in instances { try await instance.process.waitForOutput(containing: "Partitions assigned", timeout: 60) }
        let customers = (0..<40).map { "cus_g\($0)" }
        try await CallHoldIntegrationTests().prepare(h, customers, credits: 600)
        try await ManyInstancesTests.waitForStableGroup(instances, partitions: 8)
        try await h.sendAll(h.configuration.topics.usage, (0..<10).flatMap { n in customers.map { start(h, $0, "c\(n)") } })
        try await waitForOutput(h, timeout: 60, "400 grants") { distinctDecisions(h).count >= 400 }
        let reader = PostgresLedgerReader(url: try PostgresStoreURL(url), logger: h.logger)
        try expectHolds(reader, customers, calls: 10, held: "300")
        // a dies with the calls live; b takes its partitions and the calls' holds with them.
        kill(instances[0].process.process.processIdentifier, SIGKILL)
        try await h.sendAll(
            h.configuration.topics.usage,
            customers.flatMap { c in (0..<5).map { end(h, c, "c\($0)") } + (10..<30).map { start(h, c, "c\($0)") } })
        try await waitForOutput(h, timeout: 90, "the ends and new starts to be decided after the move") {
            distinctDecisions(h).count >= 400 + 40 * 25
        }
        try expectHolds(reader, customers, calls: 20, held: "600")
        let decisions = distinctDecisions(h)
        for customer in customers {
            let mine = decisions.values.filter { $0["customer_id"]?.text == customer }
            #expect(mine.filter { $0["decision"]?.text == "released" }.count == 5, "\(customer)")
            #expect(mine.filter { $0["decision"]?.text == "granted" }.count == 10 + 15, "\(customer)")
            #expect(mine.filter { $0["decision"]?.text == "denied" }.count == 5, "\(customer)")
        }
        // a comes back (the partitions move again); every call ends: nothing is held anywhere.
        try instances[0].restart()
        try await instances[0].process.waitForOutput(containing: "Partitions assigned", timeout: 60)
        try await h.sendAll(h.configuration.topics.usage, customers.flatMap { c in (5..<30).map { end(h, c, "c\($0)") } })
        try await waitForOutput(h, timeout: 90, "every live call released") {
            distinctDecisions(h).values.filter { $0["decision"]?.text == "released" }.count == 40 * 25
        }
        try expectHolds(reader, customers, calls: 0, held: "0")
        for instance in instances {
            instance.process.process.terminate()
            #expect(try await instance.process.waitForExit(timeout: 30) == 0)
        }
    }
}
