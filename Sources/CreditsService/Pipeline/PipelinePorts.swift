import CreditsCore
import CreditsKafka
import CreditsStore
import Dispatch

/// What the pipeline needs of its input: a consumer-group member. `KafkaConsumer` in the
/// service; the deterministic simulator's model of a cluster in its tests.
public protocol PipelineInput: AnyObject {
    /// The partitions assigned to this member now.
    var assignment: Set<TopicPartition> { get }
    /// Up to `maxMessages` messages; serves rebalances (the listener is called from here).
    func poll(maxMessages: Int, timeoutMilliseconds: Int32) -> [KafkaMessage]
    /// Starts fetching paused partitions again.
    func resume(_ partitions: [TopicPartition])
    /// Moves each partition's fetch position to its offset (fetched messages beyond are dropped).
    func seek(_ offsets: [TopicPartition: Int64]) throws(KafkaError)
    /// Commits `offsets` (the next offset to read per partition) to the group, without waiting.
    func commit(_ offsets: [TopicPartition: Int64]) throws(KafkaError)
    /// The group's committed offset of each partition that has one; throws when unknown.
    func committedOffsets(_ partitions: [TopicPartition], timeoutMilliseconds: Int32) throws(KafkaError)
        -> [TopicPartition: Int64]
    /// Messages behind the partition's end for a consumer at `nextOffset`; nil when unknown.
    func lag(of partition: TopicPartition, nextOffset: Int64) -> Int64?
    /// Asks the group for a new assignment (after another member took a partition this one
    /// still held): the assignment is revoked and the one the group makes now assigned, both
    /// through the listener inside `poll`, once the member reaches the group.
    func rejoin() throws(KafkaError)
    /// Leaves the group; false when it did not answer in time.
    func close(timeoutMilliseconds: Int) -> Bool
}

/// What the pipeline needs of its output: a producer that reports each message's delivery.
public protocol PipelineOutput: AnyObject {
    /// Queues a message; `token` comes back in its delivery report.
    func send(topic: String, key: String, value: String, token: Int64, reports: inout [KafkaDelivery]) throws(KafkaError)
    /// Serves delivery reports for up to `timeoutMilliseconds`.
    func pollDeliveries(timeoutMilliseconds: Int32) -> [KafkaDelivery]
}

/// The pipeline's two clocks: monotonic nanoseconds (deadlines, backoffs, ages) and the wall
/// clock (what the ledger records). The simulator drives both from its seed.
public struct PipelineClock {
    public var monotonicNanoseconds: () -> UInt64
    public var wall: () -> Timestamp

    public init(monotonicNanoseconds: @escaping () -> UInt64, wall: @escaping () -> Timestamp) {
        self.monotonicNanoseconds = monotonicNanoseconds
        self.wall = wall
    }

    /// The machine's clocks.
    public static var system: PipelineClock { system(aheadBySeconds: 0) }

    /// The machine's clocks, the wall clock moved `seconds` ahead (tests of processing-time
    /// deadlines across a restart: the next run of the service finds them due).
    public static func system(aheadBySeconds seconds: Int64) -> PipelineClock {
        PipelineClock(
            monotonicNanoseconds: { DispatchTime.now().uptimeNanoseconds },
            wall: { WallClock.now().adding(seconds: seconds) })
    }
}

extension KafkaConsumer: PipelineInput {}
extension KafkaProducer: PipelineOutput {}
