import CreditsCore
import CreditsKafka
import Foundation
import Testing

/// Stopping within `shutdown.timeout_ms` whatever the cluster's state (the real process).
@Suite("Stopping cleanly whatever Kafka's state", .serialized)
struct ShutdownTests {
    func environment(_ h: ServiceHarness) -> [String: String] {
        [
            "CREDITS_KAFKA_BROKERS": h.broker.bootstrapServers, "CREDITS_KAFKA_GROUP_ID": h.configuration.groupID,
            "CREDITS_STORE_PATH": h.configuration.storePath, "CREDITS_HTTP_HOST": "127.0.0.1", "CREDITS_HTTP_PORT": "0",
            "CREDITS_KAFKA_SESSION_TIMEOUT_MS": "6000", "CREDITS_SHUTDOWN_TIMEOUT_MS": "5000",
            "CREDITS_KAFKA_PROPERTIES": ServiceHarness.embeddedClientProperties,
        ]
    }

    /// Three brokers: the group's coordinator alone goes down (1 of 3), or every broker (1 of 1).
    @Test(
        "SIGTERM with the group coordinator down exits 0 within the deadline; the restart is exact",
        arguments: [(3, "the coordinator"), (1, "every broker")] as [(Int32, String)])
    func coordinatorDown(brokers: Int32, down: String) async throws {
        let h = try ServiceHarness(partitions: 2, brokers: brokers)
        if brokers > 1 { h.broker.setGroupCoordinator(h.configuration.groupID, broker: brokers) }
        let customers = (0..<4).map { "cus_d\($0)" }
        var serve = try RunningExecutable(["serve"], environment: environment(h), directory: h.directory)
        try await serve.waitForOutput(containing: "Partitions assigned", timeout: 60)
        try await FaultInjectionTests().enable(h, customers)
        let total = 2_000
        try await h.sendAll(h.configuration.topics.usage, FaultInjectionTests().usage(h, customers, 0..<total))
        try await waitUntil(timeout: 30, "some usage to be applied") {
            try h.reader().account(customers[0])?.lastEntryID ?? 0 > 10
        }
        h.broker.setDown(broker: brokers)  // the coordinator (and the leaders it has)
        serve.process.terminate()
        let signalled = Date()
        #expect(try await serve.waitForExit(timeout: 20) == 0, "\(serve.output.suffix(2000))")
        let took = Date().timeIntervalSince(signalled)
        #expect(took < 8, "5 s deadline, took \(took) s")
        #expect(serve.output.contains("credits-ledger stopped"))
        print("fault figures: SIGTERM with \(down) down: exit 0 after \(String(format: "%.1f", took)) s")
        try h.broker.setUp(broker: brokers)
        serve = try RunningExecutable(["serve"], environment: environment(h), directory: h.directory)
        try await h.expectExactBalances(customers, total: total, timeout: 90) { Int64($0 % 50 + 1) * 100_000 }
        try await waitUntil(timeout: 60, "the outbox to empty") { try h.reader().outboxDepth() == 0 }
        #expect(try await h.waitForDistinct("credits.balance-changed", count: total, timeout: 60).count == total)
        serve.process.terminate()
        #expect(try await serve.waitForExit(timeout: 30) == 0, "\(serve.output.suffix(3000))")
    }

    @Test("starting against an unreachable cluster: readiness 503 with the reason, SIGTERM still stops it promptly")
    func unreachableAtStart() async throws {
        let h = try ServiceHarness(partitions: 2)
        h.broker.setDown()
        defer { try? h.broker.setUp() }
        let serve = try RunningExecutable(["serve"], environment: environment(h), directory: h.directory)
        try await serve.waitForOutput(containing: "HTTP listening", timeout: 30)
        let port = try #require(
            serve.output.split(separator: "\n").first { $0.contains("HTTP listening") }
                .flatMap { $0.components(separatedBy: "port=").last?.split(separator: " ").first.flatMap { Int($0) } })
        try await Task.sleep(for: .seconds(2))
        let (status, body) = try await httpGet(port, "/readyz")
        #expect(status == 503)
        #expect(body.contains("waiting to join the consumer group"), "\(body)")
        serve.process.terminate()
        let signalled = Date()
        #expect(try await serve.waitForExit(timeout: 20) == 0, "\(serve.output.suffix(2000))")
        #expect(Date().timeIntervalSince(signalled) < 8)
    }
}
