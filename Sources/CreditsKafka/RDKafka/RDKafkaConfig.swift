import Crdkafka
import Logging

/// Where librdkafka's own log lines go (its threads call the callback below).
let librdkafkaLogger = Logger(label: "librdkafka")

/// Forwards a librdkafka log line (syslog level) to swift-log.
private func logCallback(
    handle: OpaquePointer?, level: Int32, facility: UnsafePointer<CChar>?,
    message: UnsafePointer<CChar>?
) {
    let text = message.map { String(cString: $0) } ?? ""
    let facilityText = facility.map { String(cString: $0) } ?? ""
    let client = handle.map { String(cString: rd_kafka_name($0)) } ?? ""
    let swiftLevel: Logger.Level =
        switch level {
        case ...3: .error
        case 4: .warning
        case 5, 6: .info
        default: .debug
        }
    librdkafkaLogger.log(level: swiftLevel, "\(text)", metadata: ["facility": "\(facilityText)", "client": "\(client)"])
}

/// Builds an `rd_kafka_conf_t` from properties. The caller owns the result until it hands it to
/// `rd_kafka_new`, which takes it on success only.
enum RDKafkaConfig {
    static func make(_ properties: [String: String]) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else { throw KafkaError(code: -1, message: "rd_kafka_conf_new failed") }
        rd_kafka_conf_set_log_cb(conf, logCallback)
        var errorText = [CChar](repeating: 0, count: 512)
        for (name, value) in properties.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(conf, name, value, &errorText, errorText.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw KafkaError(code: -1, message: "Kafka property \(name): \(errorBufferText(errorText))")
            }
        }
        return conf
    }

    /// Creates a client of `type`; frees `conf` when creation fails.
    static func client(_ type: rd_kafka_type_t, conf: OpaquePointer) throws(KafkaError) -> OpaquePointer {
        var errorText = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(code: -1, message: "cannot create Kafka client: \(errorBufferText(errorText))")
        }
        return handle
    }
}

/// The text in a NUL-terminated error buffer filled by librdkafka.
func errorBufferText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
