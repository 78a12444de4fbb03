import CreditsSimulation
import CreditsTestSupport
import Foundation
import Testing

/// The deterministic simulator over a bounded number of seeds: on SQLite (one instance that
/// crashes, is cut off and restarts) and on a shared PostgreSQL store (three instances with
/// rebalances, zombies and crashes). A failure names its seed;
/// `SWIFT_DETERMINISTIC_HASHING=1 credits-bench sim 1 SEED` (with the URL for PostgreSQL) replays
/// it step for step (`./test.sh` sets the variable too).
@Suite("Deterministic simulation", .serialized)
struct SimulationTests {
    static let sqliteSeeds: [UInt64] = Array(1...40)
    static let postgresSeeds: [UInt64] = Array(1...30)

    @Test("SQLite: every input exactly once, every entry's event delivered in order", arguments: sqliteSeeds)
    func sqlite(seed: UInt64) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("credits-sim-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await run(Simulation.Options(seed: seed), store: .sqlite(directory: directory))
    }

    @Test("Shared PostgreSQL store, three instances: exact through rebalances, zombies and crashes", arguments: postgresSeeds)
    func postgres(seed: UInt64) async throws {
        let server = try PostgresServer.shared()
        let database = try server.makeDatabase("sim")
        try await run(Simulation.Options(seed: seed), store: .postgres(url: database))
    }

    @Test("The same seed replays the same run")
    func replay() async throws {
        let server = try PostgresServer.shared()
        var reports: [Simulation.Report] = []
        for _ in 0..<2 {
            let database = try server.makeDatabase("sim")
            var options = Simulation.Options(seed: 7)
            options.steps = 200
            let store = Simulation.Store.postgres(url: database)
            let seven = options
            reports.append(try await onOwnThread { try Simulation(options: seven, store: store).run() })
        }
        #expect(reports[0].description == reports[1].description)
    }

    private func run(_ options: Simulation.Options, store: Simulation.Store) async throws {
        do {
            let report = try await onOwnThread { try Simulation(options: options, store: store).run() }
            #expect(report.entries > 0, "seed \(options.seed) made no entries: the workload did not run")
        } catch let failure as Simulation.Failure {
            Issue.record("\(failure)")
        }
    }
}

/// Runs `body` on a thread of its own: a simulation is synchronous and busy for seconds, and on
/// a small machine it would otherwise hold a thread of the cooperative pool that the services
/// of the other suites (running in parallel) need.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
