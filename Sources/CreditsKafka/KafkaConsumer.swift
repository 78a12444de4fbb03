import Crdkafka
import CreditsCore
import Foundation
import Logging

/// What the consumer's owner decides when partitions are assigned or revoked. Called on the
/// thread that polls, inside librdkafka's rebalance callback: keep it short, and make no call
/// that waits for the broker.
public protocol KafkaRebalanceListener: AnyObject {
    /// The offset to start each newly assigned partition from (absent: the group's committed
    /// offset, or the beginning), and the partitions to keep paused until `resume`.
    func partitionsAssigned(_ partitions: [TopicPartition])
        -> (start: [TopicPartition: Int64], paused: Set<TopicPartition>)
    func partitionsRevoked(_ partitions: [TopicPartition])
}

/// A consumer with manual offsets: nothing is committed or stored automatically. Either a
/// consumer-group member (range assignment keeps co-partitioned topics together) or a
/// standalone reader of partitions it assigns itself. Confined to one thread.
public final class KafkaConsumer {
    private let handle: OpaquePointer
    private let queue: OpaquePointer
    private let context: RebalanceContext?
    private let logger: Logger
    /// Header names whose values `poll` copies into each message.
    private let headerNames: [String]
    private var closed = false
    /// The topics a group member subscribed to (empty for a standalone reader).
    private var topics: [String] = []
    /// Set when the group did not answer the close in time: the handle is then destroyed
    /// without another attempt to leave the group.
    private var abandoned = false

    /// The partitions assigned to this member now.
    public var assignment: Set<TopicPartition> { context?.assignment ?? [] }

    /// A member of `groupID` subscribed to `topics`; `listener` decides where assigned partitions start.
    /// `headerNames`: the headers to read from each message.
    public convenience init(
        settings: KafkaClientSettings, groupID: String, topics: [String],
        listener: KafkaRebalanceListener, headerNames: [String] = [],
        logger: Logger
    ) throws(KafkaError) {
        try self.init(settings: settings, groupID: groupID, listener: listener, headerNames: headerNames, logger: logger)
        self.topics = topics
        try subscribe()
    }

    private func subscribe() throws(KafkaError) {
        let list = RDKafkaPartitionList(topics.map { TopicPartition(topic: $0, partition: -1) })
        let error = rd_kafka_subscribe(handle, list.pointer)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(error, "subscribing to \(topics.joined(separator: ", "))")
        }
    }

    /// Asks the group for a new assignment: the subscription is made again, which revokes the
    /// current assignment (through the listener, inside a later `poll`) and joins the group anew,
    /// so that the group rebalances and this member gets the partitions the group gives it now.
    /// A member cut off from the group rejoins when it reaches it.
    public func rejoin() throws(KafkaError) {
        guard !topics.isEmpty, !closed else { return }
        try subscribe()
    }

    /// A standalone reader: no group membership, partitions chosen with `assign`.
    public convenience init(settings: KafkaClientSettings, logger: Logger) throws(KafkaError) {
        try self.init(settings: settings, groupID: "credits-ledger-reader", listener: nil, headerNames: [], logger: logger)
    }

    private init(
        settings: KafkaClientSettings, groupID: String, listener: KafkaRebalanceListener?,
        headerNames: [String], logger: Logger
    ) throws(KafkaError) {
        self.headerNames = headerNames
        let properties = settings.librdkafkaProperties(defaults: [
            "group.id": groupID,
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "range",
            "enable.partition.eof": "false",
            "fetch.wait.max.ms": "10",
            "queued.max.messages.kbytes": "65536",
        ])
        let conf = try RDKafkaConfig.make(properties)
        context = listener.map { RebalanceContext(listener: $0, logger: logger) }
        if let context {
            rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
            rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
        }
        handle = try RDKafkaConfig.client(RD_KAFKA_CONSUMER, conf: conf)
        rd_kafka_poll_set_consumer(handle)
        queue = rd_kafka_queue_get_consumer(handle)
        self.logger = logger
    }

    /// Reads exactly these partitions from these offsets (standalone readers).
    public func assign(_ offsets: [TopicPartition: Int64]) throws(KafkaError) {
        let list = RDKafkaPartitionList(offsets: offsets)
        let error = rd_kafka_assign(handle, list.pointer)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error, "assigning partitions") }
    }

    /// The number of partitions of `topic`, from the cluster's metadata.
    public func partitionCount(of topic: String, timeoutMilliseconds: Int32 = 10_000) throws(KafkaError) -> Int32 {
        guard let topicHandle = rd_kafka_topic_new(handle, topic, nil) else {
            throw KafkaError(rd_kafka_last_error(), "topic \(topic)")
        }
        defer { rd_kafka_topic_destroy(topicHandle) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let error = rd_kafka_metadata(handle, 0, topicHandle, &metadata, timeoutMilliseconds)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(error, "metadata of \(topic)") }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt > 0, let topics = metadata.pointee.topics,
            topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR
        else {
            throw KafkaError(code: -1, message: "topic \(topic) does not exist")
        }
        return topics[0].partition_cnt
    }

    deinit {
        close(timeoutMilliseconds: 10_000)
        rd_kafka_queue_destroy(queue)
        if abandoned {
            // librdkafka still waits for the unanswered group requests while destroying; nobody
            // needs to wait for that, so it happens on a thread of its own.
            let handle = AbandonedHandle(pointer: handle)
            Thread.detachNewThread { rd_kafka_destroy_flags(handle.pointer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE) }
        } else {
            rd_kafka_destroy(handle)
        }
    }

    /// A client handle that no one else uses any more, handed to the thread that destroys it.
    private struct AbandonedHandle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// Up to `maxMessages` messages: whatever is already fetched, or, when nothing is, the first
    /// message to arrive within `timeoutMilliseconds` and what came with it. Never waits to fill
    /// a batch, so a busy stream gets large batches and a quiet one low latency.
    /// Serves rebalances on this thread.
    public func poll(maxMessages: Int, timeoutMilliseconds: Int32) -> [KafkaMessage] {
        var pointers = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: maxMessages)
        var count = rd_kafka_consume_batch_queue(queue, 0, &pointers, maxMessages)
        if count == 0 {
            count = rd_kafka_consume_batch_queue(queue, timeoutMilliseconds, &pointers, 1)
            if count == 1 && maxMessages > 1 {
                count += pointers.withUnsafeMutableBufferPointer { buffer in
                    max(0, rd_kafka_consume_batch_queue(queue, 0, buffer.baseAddress! + 1, maxMessages - 1))
                }
            }
        }
        guard count > 0 else { return [] }
        var messages: [KafkaMessage] = []
        messages.reserveCapacity(count)
        for pointer in pointers.prefix(count) {
            guard let message = pointer else { continue }
            defer { rd_kafka_message_destroy(message) }
            let fields = message.pointee
            guard fields.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                let topic = fields.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
                let detail: Logger.Metadata = [
                    "error": "\(String(cString: rd_kafka_err2str(fields.err)))", "topic": "\(topic)",
                    "partition": "\(fields.partition)", "offset": "\(fields.offset)",
                ]
                if fields.err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET {
                    logger.error(
                        "Partition cannot resume where this consumer left off (the messages are gone, e.g. past retention); not consuming it",
                        metadata: detail)
                } else {
                    logger.warning("Kafka consumer error", metadata: detail)
                }
                continue
            }
            let topic = fields.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
            let key = fields.key.map { Array(UnsafeRawBufferPointer(start: $0, count: fields.key_len)) }
            let value = fields.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: fields.len)) } ?? []
            let timestamp = rd_kafka_message_timestamp(message, nil)
            messages.append(
                KafkaMessage(
                    topic: topic, partition: fields.partition, offset: fields.offset, key: key,
                    value: value, headers: headers(of: message), timestampMilliseconds: timestamp >= 0 ? timestamp : nil))
        }
        return messages
    }

    /// The requested headers of a message (the last value of each name).
    private func headers(of message: UnsafeMutablePointer<rd_kafka_message_t>) -> [String: [UInt8]] {
        guard !headerNames.isEmpty else { return [:] }
        var list: OpaquePointer?
        guard rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return [:] }
        var found: [String: [UInt8]] = [:]
        for name in headerNames {
            var value: UnsafeRawPointer?
            var size = 0
            if rd_kafka_header_get_last(list, name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                found[name] = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
            }
        }
        return found
    }

    /// Messages behind the partition's end for a consumer at `nextOffset`, from the high
    /// watermark librdkafka last fetched (no broker round trip); nil when unknown.
    public func lag(of partition: TopicPartition, nextOffset: Int64) -> Int64? {
        var low: Int64 = 0
        var high: Int64 = 0
        let error = rd_kafka_get_watermark_offsets(handle, partition.topic, partition.partition, &low, &high)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return max(0, high - max(nextOffset, low))
    }

    /// The partition's end offset, asked of the broker (blocks up to `timeoutMilliseconds`).
    public func queryEndOffset(of partition: TopicPartition, timeoutMilliseconds: Int32 = 5_000) -> Int64? {
        var low: Int64 = 0
        var high: Int64 = 0
        let error = rd_kafka_query_watermark_offsets(
            handle, partition.topic, partition.partition, &low, &high,
            timeoutMilliseconds)
        return error == RD_KAFKA_RESP_ERR_NO_ERROR ? high : nil
    }

    /// The group's committed offset (the next offset to read) of each partition that has one.
    /// Waits up to `timeoutMilliseconds` for the coordinator; throws when it cannot be read, so
    /// that "unknown" is never taken for "none".
    public func committedOffsets(
        _ partitions: [TopicPartition],
        timeoutMilliseconds: Int32
    ) throws(KafkaError) -> [TopicPartition: Int64] {
        let query = RDKafkaPartitionList(partitions)
        let error = rd_kafka_committed(handle, query.pointer, timeoutMilliseconds)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error, "reading the group's committed offsets") }
        var committed: [TopicPartition: Int64] = [:]
        for element in query.elements {
            guard element.error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(element.error, "reading the group's committed offset of \(element.partition)")
            }
            if element.offset >= 0 { committed[element.partition] = element.offset }
        }
        return committed
    }

    /// Starts fetching paused partitions again (from where they were assigned).
    public func resume(_ partitions: [TopicPartition]) {
        guard !partitions.isEmpty else { return }
        let list = RDKafkaPartitionList(partitions)
        rd_kafka_resume_partitions(handle, list.pointer)
    }

    /// Moves each partition's fetch position to its offset and waits (up to 5 s) until the fetcher
    /// has it, so that no message fetched from the old position is returned after this.
    public func seek(_ offsets: [TopicPartition: Int64]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = RDKafkaPartitionList(offsets: offsets)
        if let error = rd_kafka_seek_partitions(handle, list.pointer, 5_000) {
            let code = rd_kafka_error_code(error)
            rd_kafka_error_destroy(error)
            throw KafkaError(code, "seeking to the stored positions")
        }
        for element in list.elements where element.error != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(element.error, "seeking \(element.partition)")
        }
    }

    /// Commits `offsets` (the next offset to read per partition) to the group, without waiting.
    public func commit(_ offsets: [TopicPartition: Int64]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = RDKafkaPartitionList(offsets: offsets)
        let error = rd_kafka_commit(handle, list.pointer, 1)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR__NO_OFFSET else {
            throw KafkaError(error, "committing offsets")
        }
    }

    /// Leaves the group (serving the final rebalance) and stops fetching, waiting at most
    /// `timeoutMilliseconds` for the group coordinator. Returns false when it did not answer in
    /// time: the consumer is then given up without leaving the group (the group notices after
    /// its session timeout). Idempotent.
    @discardableResult
    public func close(timeoutMilliseconds: Int) -> Bool {
        guard !closed else { return !abandoned }
        closed = true
        if let error = rd_kafka_consumer_close_queue(handle, queue) {
            logger.warning("Kafka consumer close", metadata: ["error": "\(String(cString: rd_kafka_error_string(error)))"])
            rd_kafka_error_destroy(error)
            abandoned = true
            return false
        }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, timeoutMilliseconds)) * 1_000_000
        var pointers = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: 100)
        while rd_kafka_consumer_closed(handle) == 0 {
            guard DispatchTime.now().uptimeNanoseconds < deadline else {
                abandoned = true
                return false
            }
            // Serves the final rebalance; messages still arriving are dropped (not applied, not committed).
            let count = rd_kafka_consume_batch_queue(queue, 100, &pointers, pointers.count)
            for pointer in pointers.prefix(max(0, count)) { if let pointer { rd_kafka_message_destroy(pointer) } }
        }
        return true
    }
}

/// The consumer's state reached from librdkafka's rebalance callback through the conf opaque.
final class RebalanceContext {
    weak var listener: KafkaRebalanceListener?
    let logger: Logger
    var assignment = Set<TopicPartition>()

    init(listener: KafkaRebalanceListener, logger: Logger) {
        self.listener = listener
        self.logger = logger
    }

    func assign(_ handle: OpaquePointer, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let partitions = RDKafkaPartitionList.elements(of: list).map(\.partition)
        let decision = listener?.partitionsAssigned(partitions) ?? (start: [:], paused: [])
        let count = Int(list.pointee.cnt)
        if let elements = list.pointee.elems {
            for index in 0..<count {
                let partition = TopicPartition(
                    topic: String(cString: elements[index].topic),
                    partition: elements[index].partition)
                elements[index].offset = decision.start[partition] ?? KafkaOffset.invalid
            }
        }
        let error = rd_kafka_assign(handle, list)
        if error != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.error("Kafka assign failed", metadata: ["error": "\(String(cString: rd_kafka_err2str(error)))"])
        }
        assignment = Set(partitions)
        if !decision.paused.isEmpty {
            let pause = RDKafkaPartitionList(decision.paused)
            rd_kafka_pause_partitions(handle, pause.pointer)
        }
    }

    func revoke(_ handle: OpaquePointer, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        listener?.partitionsRevoked(RDKafkaPartitionList.elements(of: list).map(\.partition))
        assignment = []
        rd_kafka_assign(handle, nil)
    }
}

/// librdkafka's rebalance callback: hands the event to the consumer's context and assigns.
private func rebalanceCallback(
    handle: OpaquePointer?, error: rd_kafka_resp_err_t,
    partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
    opaque: UnsafeMutableRawPointer?
) {
    guard let handle, let partitions, let opaque else { return }
    let context = Unmanaged<RebalanceContext>.fromOpaque(opaque).takeUnretainedValue()
    switch error {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS: context.assign(handle, partitions)
    default: context.revoke(handle, partitions)
    }
}
