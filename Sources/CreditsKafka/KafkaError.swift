import Crdkafka

/// A failure reported by librdkafka or by this binding.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// librdkafka's `rd_kafka_resp_err_t` value (or -1 for errors of the binding).
    public let code: Int32
    public let message: String

    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    init(_ error: rd_kafka_resp_err_t, _ context: String) {
        code = error.rawValue
        message = "\(context): \(String(cString: rd_kafka_err2str(error)))"
    }

    public var description: String { message }
}
