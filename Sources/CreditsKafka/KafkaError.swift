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

    /// `RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE`: a message over the size the broker or producer takes.
    public static let messageSizeTooLarge = RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE.rawValue

    /// Whether sending the same message again can never succeed (it is too large).
    public var isTooLarge: Bool { code == Self.messageSizeTooLarge }
}
