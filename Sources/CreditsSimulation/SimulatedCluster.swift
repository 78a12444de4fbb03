import CreditsCore
import CreditsKafka

/// A model of a Kafka cluster for the deterministic simulation only (the integration tests talk
/// to a real broker): topics as partitioned logs, one consumer group with eager range
/// rebalances, session expiry of members that stop polling, members cut off from the cluster
/// (a zombie keeps returning what it had fetched), and the output topics as logs of what the
/// producers delivered. Time is the simulation's: nothing here reads a real clock.
public final class SimulatedCluster {
    /// A message as a log holds it.
    public struct Record: Sendable, Equatable {
        public var key: [UInt8]?
        public var value: [UInt8]
    }

    /// A message a producer delivered to an output topic.
    public struct Delivered: Sendable, Equatable {
        public var topic: String
        public var key: String
        public var value: String
        /// The instance whose producer wrote it.
        public var producer: Int
    }

    struct Member {
        var lastHeartbeat: UInt64
        weak var consumer: SimulatedConsumer?
    }

    public let inputTopics: [String]
    public let partitionCount: Int32
    let sessionTimeoutNanoseconds: UInt64
    /// Monotonic nanoseconds since the start of the run.
    public private(set) var now: UInt64 = 0
    public private(set) var logs: [TopicPartition: [Record]] = [:]
    public private(set) var delivered: [Delivered] = []
    private(set) var committed: [TopicPartition: Int64] = [:]
    private(set) var members: [Int: Member] = [:]
    /// Instances cut off from the cluster (by id): they cannot fetch, commit or produce.
    public private(set) var cutOff = Set<Int>()
    private(set) var assignment: [Int: [TopicPartition]] = [:]
    public private(set) var generation = 0
    /// Assignments served by members cut off from the cluster (received before the cut-off).
    public var assignmentsServedCutOff = 0
    private var memberIDs = 0
    /// What happened, one line an event, for a failure's report.
    public private(set) var trace: [String] = []

    public init(inputTopics: [String], partitions: Int32, sessionTimeoutMilliseconds: Int) {
        self.inputTopics = inputTopics
        partitionCount = partitions
        sessionTimeoutNanoseconds = UInt64(sessionTimeoutMilliseconds) * 1_000_000
        for topic in inputTopics {
            for partition in 0..<partitions { logs[TopicPartition(topic: topic, partition: partition)] = [] }
        }
    }

    public func note(_ line: String) { trace.append("t=\(now / 1_000_000)ms \(line)") }

    /// Lets time pass.
    public func advance(milliseconds: Int) { now += UInt64(milliseconds) * 1_000_000 }

    /// How far the wall clock has jumped ahead of the monotonic one (processing-time deadlines,
    /// call hold expiry and grace ends, come due without sessions lapsing).
    public private(set) var wallAheadMilliseconds: Int64 = 0

    /// The wall clock the instances read, in milliseconds since the epoch.
    public var wallMilliseconds: Int64 { Simulation.startOfTime + Int64(now / 1_000_000) + wallAheadMilliseconds }

    /// Moves the wall clock ahead by `seconds`.
    public func jumpWallClock(seconds: Int64) {
        wallAheadMilliseconds += seconds * 1_000
        note("the wall clock jumps \(seconds) s ahead")
    }

    // MARK: Logs

    /// Appends an input message; returns its offset.
    @discardableResult
    public func append(_ topic: String, partition: Int32, key: String?, value: String) -> Int64 {
        let partition = TopicPartition(topic: topic, partition: partition)
        logs[partition, default: []].append(Record(key: key.map { Array($0.utf8) }, value: Array(value.utf8)))
        return Int64(logs[partition]!.count - 1)
    }

    func endOffset(_ partition: TopicPartition) -> Int64 { Int64(logs[partition]?.count ?? 0) }

    func record(_ partition: TopicPartition, at offset: Int64) -> KafkaMessage? {
        guard let log = logs[partition], offset >= 0, offset < log.count else { return nil }
        let record = log[Int(offset)]
        return KafkaMessage(
            topic: partition.topic, partition: partition.partition, offset: offset, key: record.key, value: record.value)
    }

    func deliver(_ message: Delivered) { delivered.append(message) }

    // MARK: Group

    public func isConnected(_ instance: Int) -> Bool { !cutOff.contains(instance) }

    func isMember(_ member: Int) -> Bool { members[member] != nil }

    func newMemberID() -> Int {
        memberIDs += 1
        return memberIDs
    }

    func committedOffsets() -> [TopicPartition: Int64] { committed }

    func commit(_ offsets: [TopicPartition: Int64]) { committed.merge(offsets) { _, new in new } }

    /// A consumer joins the group (or rejoins after it was dropped): the group rebalances.
    func join(_ consumer: SimulatedConsumer) {
        members[consumer.member] = Member(lastHeartbeat: now, consumer: consumer)
        note("member \(consumer.member) (instance \(consumer.instance)) joins")
        rebalance()
    }

    /// A member asks for a new assignment (it joins again with its id): the group rebalances.
    func rejoin(_ consumer: SimulatedConsumer) {
        members[consumer.member]?.lastHeartbeat = now
        note("member \(consumer.member) (instance \(consumer.instance)) rejoins")
        rebalance()
    }

    /// A member leaves the group on purpose (a clean close).
    func leave(_ member: Int) {
        guard members.removeValue(forKey: member) != nil else { return }
        note("member \(member) leaves")
        rebalance()
    }

    func heartbeat(_ member: Int) { members[member]?.lastHeartbeat = now }

    /// Cuts a member off the cluster (or lets it reach it again): while cut off it cannot fetch,
    /// commit or produce, and the group drops it once its session times out.
    public func setConnected(_ instance: Int, _ connected: Bool) {
        guard connected == cutOff.contains(instance) else { return }
        if connected { cutOff.remove(instance) } else { cutOff.insert(instance) }
        note("instance \(instance) \(connected ? "reconnected" : "cut off")")
    }

    /// The group drops members whose session timed out, then rebalances if it dropped any.
    public func expireSessions() {
        let expired = members.filter { now - $0.value.lastHeartbeat > sessionTimeoutNanoseconds }.map(\.key).sorted()
        guard !expired.isEmpty else { return }
        for member in expired {
            // The member does not know yet; it learns of it when it reaches the group again.
            members[member]?.consumer?.expelled()
            members.removeValue(forKey: member)
            note("member \(member) session expired")
        }
        rebalance()
    }

    /// Eager range assignment over the members in id order; every member gets the new
    /// assignment at its next poll (a cut-off member when it reaches the group again).
    private func rebalance() {
        generation += 1
        let ids = members.keys.sorted()
        assignment = [:]
        for id in ids { assignment[id] = [] }
        if !ids.isEmpty {
            for partition in 0..<partitionCount {
                let owner = ids[Int(partition) * ids.count / Int(partitionCount)]
                for topic in inputTopics { assignment[owner]?.append(TopicPartition(topic: topic, partition: partition)) }
            }
        }
        for id in ids { members[id]?.consumer?.rebalanced(to: assignment[id] ?? [], generation: generation) }
        note(
            "generation \(generation): "
                + ids.map { id in "\(id)=\(Set((assignment[id] ?? []).map(\.partition)).sorted())" }.joined(separator: " "))
    }
}
