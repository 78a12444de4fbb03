import CreditsCore
import CreditsKafka
import Foundation
import Logging

/// Reads output topics from their end (or beginning) without joining a consumer group: it
/// assigns every partition itself, so it is reading as soon as it is created. Used by the admin
/// CLI to wait for a command's result and by the demo to show what happened.
public final class OutputTail {
    private var consumer: KafkaConsumer?

    public init(settings: KafkaClientSettings, topics: [String], fromStart: Bool, logger: Logger) throws {
        let consumer = try KafkaConsumer(settings: settings, logger: logger)
        var start: [TopicPartition: Int64] = [:]
        for topic in topics {
            for index in 0..<(try consumer.partitionCount(of: topic)) {
                let partition = TopicPartition(topic: topic, partition: index)
                // The end is resolved now, so that messages produced right after this returns are seen.
                start[partition] = fromStart ? KafkaOffset.beginning : consumer.queryEndOffset(of: partition) ?? KafkaOffset.end
            }
        }
        try consumer.assign(start)
        self.consumer = consumer
    }

    /// The next messages, waiting up to `timeoutMilliseconds`.
    public func poll(timeoutMilliseconds: Int32) -> [KafkaMessage] {
        consumer?.poll(maxMessages: 1000, timeoutMilliseconds: timeoutMilliseconds) ?? []
    }

    public func close() {
        consumer?.close(timeoutMilliseconds: 5_000)
        consumer = nil
    }
}

/// Publishes an admin command and waits for its result on `credits.command-results`.
public enum CommandClient {
    /// A command's result as the service published it.
    public struct Outcome: Sendable {
        public var status: String
        public var json: String
    }

    /// A key to sign commands with.
    public struct SigningKey: Sendable {
        public var keyID: String
        public var secret: Secret

        public init(keyID: String, secret: Secret) {
            self.keyID = keyID
            self.secret = secret
        }

        /// The Kafka headers that sign `value`.
        public func headers(signing value: String) -> [(name: String, value: [UInt8])] {
            [(CommandSignatures.headerName, CommandSignatures.sign(Array(value.utf8), keyID: keyID, secret: secret))]
        }
    }

    /// Publishes `commandJSON` (signed with `signingKey` when given) and waits for its result.
    public static func submit(
        commandJSON: String, commandID: String, customerID: String,
        configuration: ServiceConfiguration, bootstrapServers: String,
        signingKey: SigningKey? = nil,
        timeout: TimeInterval = 30, logger: Logger
    ) throws -> Outcome {
        let settings = configuration.kafkaSettings(bootstrapServers: bootstrapServers)
        let tail = try OutputTail(
            settings: settings, topics: [configuration.topics.commandResults], fromStart: false,
            logger: logger)
        defer { tail.close() }
        let producer = try KafkaProducer(settings: settings, logger: logger)
        var reports: [KafkaDelivery] = []
        try producer.send(
            topic: configuration.topics.commands, key: customerID, value: commandJSON,
            headers: signingKey?.headers(signing: commandJSON) ?? [], token: 1, reports: &reports)
        reports += producer.flush(timeoutMilliseconds: 10_000)
        if let failure = reports.first(where: { $0.error != nil })?.error {
            throw KafkaError(code: -1, message: "the command was not accepted by Kafka: \(failure)")
        }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            for message in tail.poll(timeoutMilliseconds: 200) {
                let text = String(decoding: message.value, as: UTF8.self)
                guard JSONText.field("command_id", in: text) == commandID,
                    JSONText.field("customer_id", in: text) == customerID
                else { continue }
                return Outcome(status: JSONText.field("status", in: text) ?? "unknown", json: text)
            }
        }
        throw KafkaError(
            code: -1, message: "no result for command \(commandID) within \(Int(timeout)) s; is the service running?")
    }
}
