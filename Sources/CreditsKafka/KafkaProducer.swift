import Crdkafka
import Foundation
import Logging

/// An idempotent producer (`enable.idempotence=true`, `acks=all`) with delivery reports read
/// from librdkafka's event queue (no C callbacks). Confined to one thread.
public final class KafkaProducer {
    private let handle: OpaquePointer
    private let queue: OpaquePointer
    private var topics: [String: OpaquePointer] = [:]
    private let logger: Logger

    /// Messages handed to librdkafka whose delivery report has not arrived yet.
    public private(set) var inFlight = 0

    public init(settings: KafkaClientSettings, logger: Logger) throws(KafkaError) {
        let properties = settings.librdkafkaProperties(defaults: [
            "enable.idempotence": "true",
            "acks": "all",
            "linger.ms": "1",
            "batch.num.messages": "10000",
            "queue.buffering.max.messages": "500000",
            "compression.type": "lz4",
        ])
        let conf = try RDKafkaConfig.make(properties)
        rd_kafka_conf_set_events(conf, Int32(RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR))
        handle = try RDKafkaConfig.client(RD_KAFKA_PRODUCER, conf: conf)
        queue = rd_kafka_queue_get_main(handle)
        self.logger = logger
    }

    deinit {
        for topic in topics.values { rd_kafka_topic_destroy(topic) }
        rd_kafka_queue_destroy(queue)
        rd_kafka_destroy(handle)
    }

    private func topicHandle(_ name: String) throws(KafkaError) -> OpaquePointer {
        if let topic = topics[name] { return topic }
        guard let topic = rd_kafka_topic_new(handle, name, nil) else {
            throw KafkaError(rd_kafka_last_error(), "topic \(name)")
        }
        topics[name] = topic
        return topic
    }

    /// Queues a message; `token` comes back in its delivery report. When librdkafka's queue is
    /// full this serves delivery reports until there is room (backpressure), collecting them in
    /// `reports`.
    public func send(
        topic: String, key: String, value: String, token: Int64,
        reports: inout [KafkaDelivery]
    ) throws(KafkaError) {
        let topicHandle = try topicHandle(topic)
        var key = key
        var value = value
        while true {
            let status = key.withUTF8 { keyBytes in
                value.withUTF8 { valueBytes in
                    rd_kafka_produce(
                        topicHandle, partitionUnassigned, RD_KAFKA_MSG_F_COPY,
                        UnsafeMutableRawPointer(mutating: valueBytes.baseAddress), valueBytes.count,
                        keyBytes.baseAddress, keyBytes.count,
                        UnsafeMutableRawPointer(bitPattern: Int(token)))
                }
            }
            if status == 0 {
                inFlight += 1
                return
            }
            let error = rd_kafka_last_error()
            guard error == RD_KAFKA_RESP_ERR__QUEUE_FULL else { throw KafkaError(error, "producing to \(topic)") }
            reports += pollDeliveries(timeoutMilliseconds: 100)
        }
    }

    /// Queues a message with headers (e.g. a signature); otherwise as `send(topic:key:value:token:reports:)`.
    public func send(
        topic: String, key: String, value: String, headers: [(name: String, value: [UInt8])],
        token: Int64, reports: inout [KafkaDelivery]
    ) throws(KafkaError) {
        guard !headers.isEmpty else {
            try send(topic: topic, key: key, value: value, token: token, reports: &reports)
            return
        }
        // C copies of everything the variadic-free produce call points at, freed after it (MSG_F_COPY).
        var owned: [UnsafeMutableRawPointer] = []
        defer { for pointer in owned { free(pointer) } }
        func copy(_ bytes: [UInt8]) -> UnsafeMutableRawPointer {
            let pointer = malloc(max(1, bytes.count))!
            bytes.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(pointer), byteCount: $0.count) }
            owned.append(pointer)
            return pointer
        }
        func cString(_ text: String) -> UnsafePointer<CChar> {
            UnsafePointer(copy(Array(text.utf8) + [0]).assumingMemoryBound(to: CChar.self))
        }
        var values: [rd_kafka_vu_t] = []
        func add(_ type: rd_kafka_vtype_t, _ fill: (inout rd_kafka_vu_t) -> Void) {
            var value = rd_kafka_vu_t()
            value.vtype = type
            fill(&value)
            values.append(value)
        }
        add(RD_KAFKA_VTYPE_TOPIC) { $0.u.cstr = cString(topic) }
        add(RD_KAFKA_VTYPE_KEY) { $0.u.mem = .init(ptr: copy(Array(key.utf8)), size: key.utf8.count) }
        add(RD_KAFKA_VTYPE_VALUE) { $0.u.mem = .init(ptr: copy(Array(value.utf8)), size: value.utf8.count) }
        add(RD_KAFKA_VTYPE_OPAQUE) { $0.u.ptr = UnsafeMutableRawPointer(bitPattern: Int(token)) }
        add(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY }
        for header in headers {
            let name = cString(header.name)
            let bytes = copy(header.value)
            add(RD_KAFKA_VTYPE_HEADER) { $0.u.header = .init(name: name, val: bytes, size: header.value.count) }
        }
        while true {
            guard let error = rd_kafka_produceva(handle, values, values.count) else {
                inFlight += 1
                return
            }
            let code = rd_kafka_error_code(error)
            rd_kafka_error_destroy(error)
            guard code == RD_KAFKA_RESP_ERR__QUEUE_FULL else { throw KafkaError(code, "producing to \(topic)") }
            reports += pollDeliveries(timeoutMilliseconds: 100)
        }
    }

    /// Serves the event queue for up to `timeoutMilliseconds`, returning delivery reports.
    public func pollDeliveries(timeoutMilliseconds: Int32) -> [KafkaDelivery] {
        var reports: [KafkaDelivery] = []
        var timeout = timeoutMilliseconds
        while let event = rd_kafka_queue_poll(queue, timeout) {
            defer { rd_kafka_event_destroy(event) }
            timeout = 0
            switch rd_kafka_event_type(event) {
            case RD_KAFKA_EVENT_DR:
                while let message = rd_kafka_event_message_next(event) {
                    let token = Int64(Int(bitPattern: message.pointee._private))
                    let error = message.pointee.err
                    reports.append(
                        KafkaDelivery(
                            token: token,
                            error: error == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : String(cString: rd_kafka_err2str(error)),
                            code: error.rawValue))
                }
            case RD_KAFKA_EVENT_ERROR:
                let fatal = rd_kafka_event_error_is_fatal(event) != 0
                logger.log(
                    level: fatal ? .critical : .warning, "Kafka producer error",
                    metadata: ["error": "\(String(cString: rd_kafka_event_error_string(event)))"])
            default:
                break
            }
        }
        inFlight -= reports.count
        return reports
    }

    /// Waits up to `timeoutMilliseconds` for every queued message to be delivered.
    public func flush(timeoutMilliseconds: Int32) -> [KafkaDelivery] {
        var reports: [KafkaDelivery] = []
        var remaining = Int(timeoutMilliseconds)
        while inFlight > 0 && remaining > 0 {
            reports += pollDeliveries(timeoutMilliseconds: 50)
            remaining -= 50
        }
        return reports
    }
}

/// `RD_KAFKA_PARTITION_UA` (a cast macro Swift does not import): let the partitioner choose.
private let partitionUnassigned: Int32 = -1
