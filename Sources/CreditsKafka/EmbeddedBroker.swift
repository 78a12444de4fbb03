import Crdkafka

/// A Kafka-protocol broker on loopback, from librdkafka's mock cluster (`rdkafka_mock.h`).
/// For tests and the out-of-the-box run; it lives as long as this object.
public final class EmbeddedBroker: @unchecked Sendable {
    // Immutable after init; librdkafka's mock cluster serves clients from its own thread.
    private let handle: OpaquePointer
    private let cluster: OpaquePointer

    /// `host:port` of the brokers, for `bootstrap.servers`.
    public let bootstrapServers: String

    public init(brokers: Int32 = 1) throws(KafkaError) {
        let conf = try RDKafkaConfig.make(["log_level": "3"])
        handle = try RDKafkaConfig.client(RD_KAFKA_PRODUCER, conf: conf)
        guard let cluster = rd_kafka_mock_cluster_new(handle, brokers) else {
            rd_kafka_destroy(handle)
            throw KafkaError(code: -1, message: "cannot start the embedded Kafka broker")
        }
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(handle)
    }

    /// Creates a topic on the embedded broker.
    public func createTopic(_ name: String, partitions: Int32) throws(KafkaError) {
        let error = rd_kafka_mock_topic_create(cluster, name, partitions, 1)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS else {
            throw KafkaError(error, "creating topic \(name)")
        }
    }
}
