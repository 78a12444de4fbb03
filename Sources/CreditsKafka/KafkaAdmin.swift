import Crdkafka

/// A topic to create: name, partitions, replication and topic-level configuration.
public struct KafkaTopicSpecification: Sendable, Equatable {
    public var name: String
    public var partitions: Int32
    public var replicationFactor: Int32
    public var config: [String: String]

    public init(name: String, partitions: Int32, replicationFactor: Int32 = 1, config: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.config = config
    }
}

/// Creates topics through Kafka's admin API. Topics that exist already are left as they are.
public enum KafkaAdmin {
    public static func createTopics(
        _ topics: [KafkaTopicSpecification], settings: KafkaClientSettings,
        timeoutMilliseconds: Int32 = 30_000
    ) throws(KafkaError) {
        let handle = try RDKafkaConfig.client(
            RD_KAFKA_PRODUCER,
            conf: try RDKafkaConfig.make(settings.librdkafkaProperties()))
        defer { rd_kafka_destroy(handle) }
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        var errorText = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for topic in topics {
            guard
                let newTopic = rd_kafka_NewTopic_new(
                    topic.name, topic.partitions, topic.replicationFactor,
                    &errorText, errorText.count)
            else { throw KafkaError(code: -1, message: "topic \(topic.name): \(errorBufferText(errorText))") }
            newTopics.append(newTopic)
            for (name, value) in topic.config { rd_kafka_NewTopic_set_config(newTopic, name, value) }
        }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMilliseconds, &errorText, errorText.count)
        rd_kafka_CreateTopics(handle, &newTopics, newTopics.count, options, queue)
        guard let event = rd_kafka_queue_poll(queue, timeoutMilliseconds + 5_000) else {
            throw KafkaError(code: -1, message: "creating topics timed out")
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        guard eventError == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(eventError, "creating topics") }
        guard let result = rd_kafka_event_CreateTopics_result(event) else { return }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
        for index in 0..<count {
            let error = rd_kafka_topic_result_error(results[index])
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS else {
                let name = String(cString: rd_kafka_topic_result_name(results[index]))
                throw KafkaError(error, "creating topic \(name)")
            }
        }
    }
}
