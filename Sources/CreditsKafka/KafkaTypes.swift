/// A consumed message, copied out of librdkafka's buffers.
public struct KafkaMessage: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// nil when the message has no key.
    public var key: [UInt8]?
    /// Empty for a message without a value.
    public var value: [UInt8]
    /// The headers the consumer was asked to read (the last value of each name present).
    public var headers: [String: [UInt8]] = [:]
    /// The message's Kafka timestamp in milliseconds since the epoch (its producer's time of
    /// `produce`, or the broker's append time on a topic that uses that); nil when it has none.
    public var timestampMilliseconds: Int64?

    public init(
        topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8],
        headers: [String: [UInt8]] = [:], timestampMilliseconds: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
    }
}

/// The broker's answer for one produced message.
public struct KafkaDelivery: Sendable, Equatable {
    /// The caller's token given to `send`.
    public var token: Int64
    /// nil when the broker has the message.
    public var error: String?
    /// librdkafka's error code when `error` is set (`rd_kafka_resp_err_t`).
    public var code: Int32

    public init(token: Int64, error: String? = nil, code: Int32 = 0) {
        self.token = token
        self.error = error
        self.code = code
    }

    /// The message is larger than the broker (or the producer's `message.max.bytes`) takes: sending
    /// it again can never succeed.
    public var isTooLarge: Bool { code == KafkaError.messageSizeTooLarge }
}

/// Special offsets understood by librdkafka.
public enum KafkaOffset {
    public static let beginning: Int64 = -2
    public static let end: Int64 = -1
    public static let invalid: Int64 = -1001
}
