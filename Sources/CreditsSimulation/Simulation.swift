import CreditsCore
import CreditsKafka
import CreditsPostgres
import CreditsService
import CreditsStore
import Foundation
import Logging

/// A deterministic simulation in the manner of TigerBeetle's VOPR: a seed drives several
/// instances of the real pipeline (`LedgerPipeline` and its `PipelineState`) against a model of a
/// Kafka cluster and the real stores, with rebalances, members cut off past their session (zombies
/// with fetched messages), crashes and restarts between any two steps, and failed or timed-out
/// deliveries. After every step it checks what the contract guarantees; at the end it heals every
/// fault, lets the instances finish, and checks that every input was applied exactly once or
/// dead-lettered and every entry's event delivered, in order. The same seed replays the same run.
public final class Simulation {
    /// Where the instances keep the ledger.
    public enum Store: Sendable {
        /// An SQLite file in `directory` (one instance: the file has one writer).
        case sqlite(directory: String)
        /// One PostgreSQL database shared by every instance.
        case postgres(url: String)
    }

    public struct Options: Sendable {
        public var seed: UInt64
        public var steps = 400
        public var instances = 3
        public var partitions: Int32 = 4
        public var customers = 10
        /// Crashes, cut-offs and failed deliveries (off: only rebalances and scheduling).
        public var faults = true
        /// Checks the store's chains every this many steps (the output checks run every step).
        public var verifyEvery = 10

        public init(seed: UInt64) { self.seed = seed }
    }

    /// What a finished run explored.
    public struct Report: Sendable, CustomStringConvertible {
        public var seed: UInt64
        public var steps = 0
        public var inputs = 0
        public var entries = 0
        public var deadLetters = 0
        public var crashes = 0
        public var cutOffs = 0
        public var rebalances = 0
        /// Assignments a member served while cut off, received before (stale if the group moved on).
        public var staleAssignments = 0
        public var fencedBatches = 0
        public var outputs = 0
        public var callDecisions = 0
        public var expiries = 0
        /// Grants whose credits expired (`expired` entries delivered).
        public var expiredGrants = 0

        public var description: String {
            "seed \(seed): \(steps) steps, \(inputs) inputs, \(entries) entries, \(deadLetters) dead letters, "
                + "\(callDecisions) call decisions (\(expiries) expiries), \(expiredGrants) expired grants, "
                + "\(outputs) outputs delivered, \(rebalances) rebalances, \(crashes) crashes, \(cutOffs) cut-offs, \(staleAssignments) assignments served cut off, "
                + "\(fencedBatches) fenced batches"
        }
    }

    /// A broken guarantee: the seed, the step and what broke, with the last events of the run.
    public struct Failure: Error, CustomStringConvertible {
        public var seed: UInt64
        public var step: Int
        public var message: String
        public var trace: [String]

        public var description: String {
            "seed \(seed), step \(step): \(message)\n  last events:\n    " + trace.suffix(60).joined(separator: "\n    ")
        }
    }

    private let options: Options
    private let store: Store
    private var random: SimulationRandom
    private let cluster: SimulatedCluster
    private let configuration: ServiceConfiguration
    private var instances: [Int: SimulatedInstance] = [:]
    private var workload: SimulationWorkload
    private var checker: OutputChecker
    private var reader: (any LedgerReading)?
    private var report: Report
    private var step = 0
    private let logger: Logger

    public init(options: Options, store: Store) {
        self.options = options
        self.store = store
        random = SimulationRandom(seed: options.seed)
        var configuration = ServiceConfiguration()
        configuration.brokers = "simulated"
        configuration.groupID = "simulation"
        configuration.partitions = options.partitions
        configuration.maxInFlight = 64
        configuration.batchMaxMessages = 50
        configuration.pollTimeoutMilliseconds = 20
        configuration.accountsPublishIntervalMilliseconds = 200
        configuration.shutdownTimeoutMilliseconds = 500
        self.configuration = configuration
        cluster = SimulatedCluster(
            inputTopics: [configuration.topics.usage, configuration.topics.commands], partitions: options.partitions,
            sessionTimeoutMilliseconds: 1_000)
        workload = SimulationWorkload(
            customers: options.customers, partitions: options.partitions, topics: configuration.topics,
            seed: options.seed &+ 1)
        checker = OutputChecker(topics: configuration.topics)
        report = Report(seed: options.seed)
        var logger = Logger(label: "simulation")
        logger.logLevel = .critical
        self.logger = logger
    }

    private var instanceCount: Int {
        if case .sqlite = store { return 1 }
        return max(1, options.instances)
    }

    /// Runs the seed's steps, then heals and finishes; throws the first broken guarantee.
    public func run() throws -> Report {
        defer { for instance in instances.values { instance.crash() } }
        for id in 0..<instanceCount { try start(id) }
        workload.enableAll(cluster)
        while step < options.steps {
            step += 1
            try act()
            try check(full: step % options.verifyEvery == 0)
        }
        try finish()
        report.steps = step
        report.inputs = workload.inputs
        report.outputs = cluster.delivered.count
        report.rebalances = cluster.generation
        report.staleAssignments = cluster.assignmentsServedCutOff
        return report
    }

    // MARK: Steps

    private func act() throws {
        cluster.advance(milliseconds: random.int(1...40))
        cluster.expireSessions()
        let roll = random.int(0..<100)
        switch roll {
        case 0..<30:
            workload.produce(cluster, count: random.int(1...6), enabled: try enabledCustomers())
        case 30..<34 where options.faults:
            try crashOrRestart()
        case 34..<38 where options.faults:
            cutOffOrHeal()
        case 38..<40:
            // Live calls' holds (30 s + 60 s) and grace periods come due.
            cluster.jumpWallClock(seconds: Int64(random.int(20...100)))
        default:
            try stepInstance(random.int(0..<instanceCount), waits: random.int(1...4))
        }
    }

    private func stepInstance(_ id: Int, waits: Int) throws {
        guard let instance = instances[id] else { return }
        do {
            try instance.step(waits: waits)
        } catch {
            throw failure("instance \(id) stopped with an error: \(error)")
        }
    }

    private func crashOrRestart() throws {
        let id = random.int(0..<instanceCount)
        if let instance = instances.removeValue(forKey: id) {
            cluster.note("instance \(id) crashes")
            instance.crash()
            report.crashes += 1
        } else {
            try start(id)
        }
    }

    private func cutOffOrHeal() {
        let id = random.int(0..<instanceCount)
        let connected = cluster.isConnected(id)
        cluster.setConnected(id, !connected)
        if connected { report.cutOffs += 1 }
    }

    private func start(_ id: Int) throws {
        cluster.note("instance \(id) starts")
        let writer = try openWriter()
        instances[id] = try SimulatedInstance(
            id: id, configuration: configuration, store: writer, cluster: cluster,
            seed: random.next(), failurePercent: options.faults ? 5 : 0, logger: logger)
    }

    private func openWriter() throws -> any LedgerWriter {
        let ledger = Ledger(configuration: configuration.ledgerRules)
        switch store {
        case .sqlite(let directory):
            // Tiny key runs written a few rows a batch, so that crashes, rebalances and zombies
            // fall in the middle of runs (the service's default is 262 144 keys, 8 192 rows a batch).
            var storeOptions = LedgerStore.Options()
            storeOptions.keyRunSize = 24
            storeOptions.keyRunSliceRows = 7
            // Batches of a few messages already encode while they commit (the service waits for
            // 256), so that failed commits, crashes and rebalances meet that path too.
            storeOptions.earlyEncodingMinimum = 4
            return try LedgerStore(path: directory + "/simulation.sqlite", ledger: ledger, options: storeOptions)
        case .postgres(let url):
            // Batches of a few messages already go in parts (the service waits for 1 000), so
            // that failed statements, crashes and zombies meet a batch half sent.
            var storeOptions = PostgresLedgerStore.Options()
            storeOptions.partedBatchMinimum = 4
            return try PostgresLedgerStore(url: PostgresStoreURL(url), ledger: ledger, logger: logger, options: storeOptions)
        }
    }

    private func openReader() throws -> any LedgerReading {
        if let reader { return reader }
        let made: any LedgerReading
        switch store {
        case .sqlite(let directory): made = try LedgerReader(path: directory + "/simulation.sqlite")
        case .postgres(let url): made = PostgresLedgerReader(url: try PostgresStoreURL(url), logger: logger)
        }
        reader = made
        return made
    }

    /// Customers whose enable_credits the store has applied (usage is only sent for them, so that
    /// every usage event is charged whatever the interleaving of the two topics).
    private func enabledCustomers() throws -> Set<String> {
        let reader = try openReader()
        for customer in workload.customerIDs where !workload.enabled.contains(customer) {
            if try reader.snapshot({ () throws(StoreError) in try reader.account(customer)?.creditsEnabled }) == true {
                workload.enabled.insert(customer)
            }
        }
        return workload.enabled
    }

    // MARK: Checks

    private func check(full: Bool) throws {
        if let problem = checker.absorb(cluster.delivered) { throw failure(problem) }
        guard full else { return }
        let reader = try openReader()
        let verification = try reader.verify()
        if let problem = verification.problems.first { throw failure("the store's chains: \(problem)") }
    }

    /// Heals every fault, restarts what crashed, and runs the instances until every input is
    /// applied and every output delivered; then checks the whole run.
    private func finish() throws {
        for id in 0..<instanceCount {
            cluster.setConnected(id, true)
            instances[id]?.producer.failurePercent = 0
            if instances[id] == nil { try start(id) }
        }
        var rounds = 0
        while let left = try unfinished() {
            rounds += 1
            guard rounds < 4_000 else {
                throw failure(
                    "the instances did not finish after every fault healed (80 s simulated): \(left)\n  "
                        + instances.values.sorted { $0.id < $1.id }.map(\.summary).joined(separator: "\n  "))
            }
            cluster.advance(milliseconds: 20)
            cluster.expireSessions()
            for id in 0..<instanceCount { try stepInstance(id, waits: 2) }
            try check(full: false)
        }
        try check(full: true)
        let reader = try openReader()
        let problems = try reader.snapshot { () throws(StoreError) in
            try workload.expectations.problems(reader: reader)
        }
        if let problem = problems.first { throw failure(problem) }
        if let problem = checker.finalProblems(expected: workload.expectations, reader: reader).first {
            throw failure(problem)
        }
        report.entries = checker.entryCount
        report.deadLetters = checker.deadLetterCount
        report.callDecisions = checker.decisionCount
        report.expiries = checker.expiryCount
        report.expiredGrants = checker.expiredCount
        report.fencedBatches = instances.values.reduce(0) { $0 + $1.fencedBatches }
    }

    /// What is left to do before the run is finished: an input partition not applied to its end,
    /// rows in the outbox, output not delivered; nil when nothing is.
    private func unfinished() throws -> String? {
        guard let any = instances.values.first else { return "no instance runs" }
        let positions = try any.store.consumedOffsets()
        for (partition, log) in cluster.logs.sorted(by: { $0.key.description < $1.key.description })
        where Int64(log.count) != (positions[partition] ?? 0) {
            return "\(partition) applied up to \(positions[partition] ?? 0) of \(log.count)"
        }
        let depth = try any.store.outboxDepth()
        guard depth == 0 else { return "\(depth) rows left in the outbox" }
        if let pending = instances.values.first(where: { $0.hasPendingOutput }) {
            return "instance \(pending.id) has undelivered output"
        }
        return nil
    }

    private func failure(_ message: String) -> Failure {
        Failure(seed: options.seed, step: step, message: message, trace: cluster.trace)
    }
}

/// A scratch PostgreSQL database for a soak: emptied before each seed.
public enum SimulationDatabase {
    public static func reset(_ url: String) throws {
        var logger = Logger(label: "simulation")
        logger.logLevel = .critical
        try PostgresScratch.reset(try PostgresStoreURL(url), logger: logger)
    }
}
