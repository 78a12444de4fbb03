import CreditsSimulation
import Foundation

/// `credits-bench sim [seeds] [first seed] [steps] [postgres URL]`: the deterministic simulator as
/// a soak. Runs seeds one after the other (SQLite when no URL is given; a URL names a database
/// that each seed empties first), prints each failing seed with its replay command, and the
/// seeds and steps explored.
func simulationSoak(seeds: Int, firstSeed: UInt64, steps: Int, postgresURL: String?) throws {
    var explored = 0
    var decisions = 0
    var expiries = 0
    var expiredGrants = 0
    var fenced = 0
    var stale = 0
    var failed: [UInt64] = []
    let started = Date()
    for seed in firstSeed..<(firstSeed + UInt64(seeds)) {
        let directory = scratchFolder.appendingPathComponent("sim-\(seed)").path
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = Simulation.Options(seed: seed)
        options.steps = steps
        let store: Simulation.Store
        if let postgresURL {
            try SimulationDatabase.reset(postgresURL)
            store = .postgres(url: postgresURL)
        } else {
            store = .sqlite(directory: directory)
        }
        do {
            let report = try Simulation(options: options, store: store).run()
            explored += report.steps
            decisions += report.callDecisions
            expiries += report.expiries
            expiredGrants += report.expiredGrants
            fenced += report.fencedBatches
            stale += report.staleAssignments
        } catch let failure as Simulation.Failure {
            failed.append(seed)
            explored += failure.step
            print(
                "FAILED \(failure)\n  replay: SWIFT_DETERMINISTIC_HASHING=1 credits-bench sim 1 \(seed) \(steps)\(postgresURL.map { " " + $0 } ?? "")"
            )
        }
    }
    let seconds = Date().timeIntervalSince(started)
    print(
        "simulated \(seeds) seeds from \(firstSeed), \(explored) steps, \(decisions) call decisions "
            + "(\(expiries) expiries), \(expiredGrants) expired grants, \(fenced) fenced transactions, \(stale) assignments served cut off, \(failed.count) failed, "
            + String(format: "%.1f s", seconds) + (failed.isEmpty ? "" : ": seeds \(failed)"))
    if !failed.isEmpty { exit(1) }
}
