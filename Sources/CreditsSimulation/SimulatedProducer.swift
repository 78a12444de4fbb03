import CreditsKafka
import CreditsService

/// One instance's producer in the simulated cluster, as the idempotent librdkafka producer
/// behaves where the pipeline can tell: messages are written in the order sent, a delivery is
/// reported some time after it is written, a message can fail (the report says so, nothing was
/// written) or time out after it was written (the report says failed, the log has it), what was
/// queued behind a failed message fails with it (no later message is written before it), and a
/// producer cut off from the cluster times its messages out.
public final class SimulatedProducer: PipelineOutput {
    private struct Sent {
        let token: Int64
        let message: SimulatedCluster.Delivered
        let sentAt: UInt64
    }

    private let member: Int
    private let cluster: SimulatedCluster
    private var random: SimulationRandom
    private var inFlight: [Sent] = []
    /// Percent of deliveries that fail (the simulation turns faults on and off).
    var failurePercent: Int
    var stepBudget: StepBudget?
    private static let messageTimeoutNanoseconds: UInt64 = 2_000_000_000

    init(member: Int, cluster: SimulatedCluster, seed: UInt64, failurePercent: Int) {
        self.member = member
        self.cluster = cluster
        self.failurePercent = failurePercent
        random = SimulationRandom(seed: seed)
    }

    public func send(topic: String, key: String, value: String, token: Int64, reports: inout [KafkaDelivery]) throws(KafkaError) {
        inFlight.append(
            Sent(
                token: token, message: .init(topic: topic, key: key, value: value, producer: member),
                sentAt: cluster.now))
    }

    public func pollDeliveries(timeoutMilliseconds: Int32) -> [KafkaDelivery] {
        var reports: [KafkaDelivery] = []
        let connected = cluster.isConnected(member)
        // A prefix of what is in flight gets its reports now, in send order.
        let count = connected ? random.int(0...inFlight.count) : inFlight.count
        var kept: [Sent] = []
        var failing = false
        for (index, sent) in inFlight.enumerated() {
            if failing {
                // After a failure the idempotent producer fails what is queued behind it, so
                // nothing later is written before the failed message is sent again.
                reports.append(KafkaDelivery(token: sent.token, error: "Local: Message timed out"))
                continue
            }
            guard index < count else {
                kept.append(sent)
                continue
            }
            if !connected {
                if cluster.now - sent.sentAt >= Self.messageTimeoutNanoseconds {
                    reports.append(KafkaDelivery(token: sent.token, error: "Local: Message timed out"))
                    failing = true
                } else {
                    kept.append(sent)
                }
            } else if random.chance(failurePercent) {
                // Half of the failures were written before the report timed out.
                if random.chance(50) { cluster.deliver(sent.message) }
                reports.append(KafkaDelivery(token: sent.token, error: "Local: Message timed out"))
                failing = true
            } else {
                cluster.deliver(sent.message)
                reports.append(KafkaDelivery(token: sent.token, error: nil))
            }
        }
        inFlight = kept
        if reports.isEmpty { stepBudget?.waited(milliseconds: Int(timeoutMilliseconds), cluster: cluster) }
        return reports
    }

    /// A crash: a prefix of what was in flight was written (the broker takes a partition's
    /// messages in sequence), by chance; no report comes.
    func crash() {
        let written = cluster.isConnected(member) ? random.int(0...inFlight.count) : 0
        for sent in inFlight.prefix(written) { cluster.deliver(sent.message) }
        inFlight = []
    }
}

/// How long one simulated step may wait: a pipeline turn that waits (for input, for delivery
/// reports) lets simulated time pass, and ends the step once it has waited its budget, through
/// the stop signal the step runs under.
final class StepBudget {
    let stop = StopSignal()
    private var remainingWaits: Int

    init(waits: Int) { remainingWaits = waits }

    func waited(milliseconds: Int, cluster: SimulatedCluster) {
        cluster.advance(milliseconds: min(max(milliseconds, 1), 100))
        remainingWaits -= 1
        if remainingWaits <= 0 { stop.stop() }
    }
}
