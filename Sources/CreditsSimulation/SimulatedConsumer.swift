import CreditsCore
import CreditsKafka
import CreditsService

/// One instance's consumer-group member in the simulated cluster, behaving as librdkafka does
/// where the pipeline can tell: rebalances are served inside `poll` through the listener; messages
/// are fetched ahead into a buffer and returned in partition order; a member cut off from the
/// cluster keeps returning what it had fetched (the zombie), and learns that it lost its
/// partitions only when it reaches the group again. An assignment that reached the member before
/// it was cut off is served at its next poll all the same, as librdkafka serves the callback it
/// has queued: if the group has moved on meanwhile, the member takes partitions it no longer has.
public final class SimulatedConsumer: PipelineInput {
    /// The instance it belongs to (whose network may be cut off).
    let instance: Int
    /// Its member id in the group: new for every start of an instance.
    let member: Int
    private let cluster: SimulatedCluster
    private weak var listener: KafkaRebalanceListener?
    private var random: SimulationRandom
    public private(set) var assignment: Set<TopicPartition> = []
    private var fetchPositions: [TopicPartition: Int64] = [:]
    private var paused = Set<TopicPartition>()
    /// Fetched and not yet returned, in fetch order.
    private var buffer: [KafkaMessage] = []
    /// An assignment the group made that this member has not served yet.
    private var pendingAssignment: [TopicPartition]?
    /// Whether the pending assignment reached the member (it was connected when the group made
    /// it): it is then served even if the member is cut off, or dropped from the group, since.
    private var pendingReceived = false
    private var closed = false
    /// Set by `rejoin` until the member reaches the group.
    private var rejoinRequested = false
    /// Set by the simulation for the step in progress: a poll that would wait ends the step.
    var stepBudget: StepBudget?

    init(instance: Int, cluster: SimulatedCluster, listener: KafkaRebalanceListener, seed: UInt64) {
        self.instance = instance
        member = cluster.newMemberID()
        self.cluster = cluster
        self.listener = listener
        random = SimulationRandom(seed: seed)
    }

    func rebalanced(to partitions: [TopicPartition], generation: Int) {
        pendingAssignment = partitions
        pendingReceived = connected
    }

    /// The group dropped this member (its session expired): it rejoins when it next reaches the
    /// group. An assignment it had received is still served (a stale one, by then).
    func expelled() {
        if !pendingReceived { pendingAssignment = nil }
    }

    private var connected: Bool { cluster.isConnected(instance) }

    public func poll(maxMessages: Int, timeoutMilliseconds: Int32) -> [KafkaMessage] {
        guard !closed else { return [] }
        if connected {
            if !cluster.isMember(member) {
                cluster.join(self)
            } else if rejoinRequested {
                cluster.rejoin(self)
            }
            rejoinRequested = false
            cluster.heartbeat(member)
        }
        if let partitions = pendingAssignment, connected || pendingReceived {
            pendingAssignment = nil
            pendingReceived = false
            if !connected {
                cluster.assignmentsServedCutOff += 1
                cluster.note("member \(member) (instance \(instance)), cut off, serves the assignment it had received")
            }
            serveRebalance(partitions)
        }
        if connected { fetch() }
        guard !buffer.isEmpty else {
            stepBudget?.waited(milliseconds: Int(timeoutMilliseconds), cluster: cluster)
            return []
        }
        let count = min(buffer.count, random.int(1...max(1, maxMessages)))
        let taken = Array(buffer.prefix(count))
        buffer.removeFirst(count)
        return taken
    }

    /// Revokes the old assignment and assigns the new one, as librdkafka's eager rebalance
    /// callback does, starting each partition where the listener says.
    private func serveRebalance(_ partitions: [TopicPartition]) {
        if !assignment.isEmpty { listener?.partitionsRevoked(Array(assignment).sorted()) }
        assignment = []
        buffer.removeAll()
        fetchPositions = [:]
        paused = []
        let decision = listener?.partitionsAssigned(partitions) ?? (start: [:], paused: [])
        assignment = Set(partitions)
        let committed = cluster.committedOffsets()
        for partition in partitions {
            let start = decision.start[partition] ?? KafkaOffset.invalid
            fetchPositions[partition] =
                switch start {
                case KafkaOffset.beginning: 0
                case KafkaOffset.end: cluster.endOffset(partition)
                case KafkaOffset.invalid: committed[partition] ?? 0
                default: start
                }
        }
        paused = decision.paused.intersection(assignment)
    }

    /// Fetches a few messages of each assigned, unpaused partition ahead into the buffer.
    private func fetch() {
        guard buffer.count < 400 else { return }
        for partition in assignment.sorted() where !paused.contains(partition) {
            var position = fetchPositions[partition] ?? 0
            let wanted = random.int(0...40)
            var fetched = 0
            while fetched < wanted, let message = cluster.record(partition, at: position) {
                buffer.append(message)
                position += 1
                fetched += 1
            }
            fetchPositions[partition] = position
        }
    }

    public func resume(_ partitions: [TopicPartition]) { paused.subtract(partitions) }

    public func rejoin() throws(KafkaError) { rejoinRequested = true }

    var summary: String {
        "consumer fetching \(fetchPositions.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" }), "
            + "paused \(paused.map(\.description).sorted()), \(buffer.count) buffered"
    }

    public func seek(_ offsets: [TopicPartition: Int64]) throws(KafkaError) {
        for (partition, offset) in offsets where assignment.contains(partition) {
            fetchPositions[partition] = offset == KafkaOffset.beginning ? 0 : offset
            buffer.removeAll { $0.topic == partition.topic && $0.partition == partition.partition }
        }
    }

    public func commit(_ offsets: [TopicPartition: Int64]) throws(KafkaError) {
        guard connected else { throw KafkaError(code: -185, message: "Local: Timed out (cut off from the cluster)") }
        cluster.commit(offsets)
    }

    public func committedOffsets(_ partitions: [TopicPartition], timeoutMilliseconds: Int32) throws(KafkaError)
        -> [TopicPartition: Int64]
    {
        guard connected else { throw KafkaError(code: -185, message: "Local: Timed out (cut off from the cluster)") }
        return cluster.committedOffsets().filter { partitions.contains($0.key) }
    }

    public func lag(of partition: TopicPartition, nextOffset: Int64) -> Int64? {
        max(0, cluster.endOffset(partition) - nextOffset)
    }

    public func close(timeoutMilliseconds: Int) -> Bool {
        guard !closed else { return true }
        closed = true
        guard connected else { return false }
        if !assignment.isEmpty { listener?.partitionsRevoked(Array(assignment).sorted()) }
        assignment = []
        cluster.leave(member)
        return true
    }

    /// A crash: gone without leaving the group (the group notices after the session timeout).
    func crash() { closed = true }
}
