import Crdkafka
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
            "linger.ms": "5",
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
    public func send(topic: String, key: String, value: String, token: Int64,
                     reports: inout [KafkaDelivery]) throws(KafkaError) {
        let topicHandle = try topicHandle(topic)
        var key = key
        var value = value
        while true {
            let status = key.withUTF8 { keyBytes in
                value.withUTF8 { valueBytes in
                    rd_kafka_produce(topicHandle, -1 /* RD_KAFKA_PARTITION_UA */, 0x2 /* RD_KAFKA_MSG_F_COPY */,
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
                    reports.append(KafkaDelivery(
                        token: token,
                        error: error == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : String(cString: rd_kafka_err2str(error))))
                }
            case RD_KAFKA_EVENT_ERROR:
                let fatal = rd_kafka_event_error_is_fatal(event) != 0
                logger.log(level: fatal ? .critical : .warning, "Kafka producer error",
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
