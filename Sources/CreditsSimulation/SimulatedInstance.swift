import CreditsCore
import CreditsService
import CreditsStore
import Logging

/// One instance of the service in the simulation: the real pipeline over a real store, with the
/// simulated cluster's consumer and producer.
final class SimulatedInstance {
    let id: Int
    let store: any LedgerWriter
    let producer: SimulatedProducer
    private let pipeline: LedgerPipeline
    private var consumer: SimulatedConsumer?
    private let status = ServiceStatus()

    init(
        id: Int, configuration: ServiceConfiguration, store: any LedgerWriter, cluster: SimulatedCluster,
        seed: UInt64, failurePercent: Int, logger: Logger
    ) throws {
        self.id = id
        self.store = store
        let producer = SimulatedProducer(member: id, cluster: cluster, seed: seed, failurePercent: failurePercent)
        self.producer = producer
        let clock = PipelineClock(
            monotonicNanoseconds: { [unowned cluster] in cluster.now + 1 },
            wall: { [unowned cluster] in Timestamp(millisecondsSinceEpoch: cluster.wallMilliseconds) })
        var made: SimulatedConsumer?
        pipeline = try LedgerPipeline(
            configuration: configuration, store: store, output: producer, clock: clock, status: status,
            metrics: PipelineMetrics(ServiceMetrics()), logger: logger
        ) { listener in
            let consumer = SimulatedConsumer(instance: id, cluster: cluster, listener: listener, seed: seed &+ 7)
            made = consumer
            return consumer
        }
        consumer = made
        // Half the instances decode every batch of 4 or more messages on another thread while
        // the store applies it, as the service does with large batches.
        if seed % 2 == 0 { pipeline.decodeOverlapFrom = 4 }
    }

    var fencedBatches: Int { pipeline.fencedBatches }

    /// The instance's readiness as `/readyz` reports it, and where its consumer fetches: for a
    /// failure's report.
    var summary: String {
        let snapshot = status.snapshot
        return "instance \(id): assigned \(snapshot.assignedPartitions), paused \(snapshot.pausedPartitions), "
            + "store error \(snapshot.storeError ?? "none"), \(consumer?.summary ?? "no consumer")"
    }

    var hasPendingOutput: Bool { pipeline.undeliveredOutput > 0 }

    /// One turn of the pipeline, allowed to wait `waits` times (each lets simulated time pass).
    func step(waits: Int) throws {
        let budget = StepBudget(waits: waits)
        consumer?.stepBudget = budget
        producer.stepBudget = budget
        defer {
            consumer?.stepBudget = nil
            producer.stepBudget = nil
        }
        try pipeline.step(until: budget.stop)
    }

    /// Gone at once: nothing is flushed, the group is not left, the store is let go (as the
    /// process's death releases its lock and connection).
    func crash() {
        consumer?.crash()
        producer.crash()
        store.close()
    }
}

extension Simulation {
    /// The wall clock's reading at simulated time 0: 2026-11-24T10:00:00Z.
    static let startOfTime: Int64 = 1_795_514_400_000
}
