import CreditsKafka
import Logging
import ServiceLifecycle
import UnixSignals

/// The whole service: the pipeline and the HTTP server in one `ServiceGroup`. The group stops
/// them in reverse order, so HTTP stops first and the pipeline drains last.
public final class CreditsServer: Sendable {
    public let configuration: ServiceConfiguration
    public let status: ServiceStatus
    public let metrics: ServiceMetrics
    private let group: ServiceGroup

    /// - Parameters:
    ///   - bootstrapServers: the brokers to use (the embedded broker's address when it runs).
    ///   - wallClockAheadSeconds: how far ahead of the machine's the ledger's clock runs (tests
    ///     of processing-time deadlines across restarts; 0 otherwise).
    public init(
        configuration: ServiceConfiguration, bootstrapServers: String, logger: Logger,
        signals: [UnixSignal] = [], wallClockAheadSeconds: Int64 = 0
    ) {
        self.configuration = configuration
        let status = ServiceStatus()
        let metrics = ServiceMetrics()
        self.status = status
        self.metrics = metrics
        let pipeline = LedgerService(
            configuration: configuration, bootstrapServers: bootstrapServers, status: status,
            metrics: metrics, logger: logger, wallClockAheadSeconds: wallClockAheadSeconds)
        let http = HTTPServer.make(
            configuration: configuration, bootstrapServers: bootstrapServers, status: status, metrics: metrics, logger: logger)
        group = ServiceGroup(
            configuration: .init(
                services: [.init(service: pipeline), .init(service: http)],
                gracefulShutdownSignals: signals,
                cancellationSignals: [],
                logger: logger))
    }

    /// Runs until shutdown (a signal or `shutdown()`), then drains and returns.
    public func run() async throws { try await group.run() }

    /// Asks the service to stop gracefully.
    public func shutdown() async { await group.triggerGracefulShutdown() }
}

/// Brokers and topics before the service starts.
public enum KafkaSetup {
    /// Starts the embedded broker when the configuration asks for it, and creates the topics
    /// (always with the embedded broker; with a real cluster when `kafka.create_topics` is set).
    public static func prepare(_ configuration: ServiceConfiguration, logger: Logger) throws
        -> (bootstrapServers: String, broker: EmbeddedBroker?)
    {
        let topics = [configuration.topics.usage, configuration.topics.commands] + configuration.topics.outputs
        if configuration.usesEmbeddedBroker {
            let broker = try EmbeddedBroker()
            for topic in topics { try broker.createTopic(topic, partitions: configuration.partitions) }
            logger.notice("Embedded Kafka broker running", metadata: ["bootstrap_servers": "\(broker.bootstrapServers)"])
            return (broker.bootstrapServers, broker)
        }
        if configuration.createTopics {
            try KafkaAdmin.createTopics(
                topics.map { topicSpecification($0, configuration) },
                settings: configuration.kafkaSettings(bootstrapServers: configuration.brokers))
        }
        return (configuration.brokers, nil)
    }

    /// Partition count and cleanup: inputs and outputs keep a week; the dead-letter topic a month;
    /// the accounts table is compacted (the newest state per customer is kept for ever).
    static func topicSpecification(_ name: String, _ configuration: ServiceConfiguration) -> KafkaTopicSpecification {
        let config: [String: String] =
            switch name {
            case configuration.topics.accounts: ["cleanup.policy": "compact"]
            case configuration.topics.deadLetter: ["cleanup.policy": "delete", "retention.ms": "2592000000"]
            default: ["cleanup.policy": "delete", "retention.ms": "604800000"]
            }
        return KafkaTopicSpecification(name: name, partitions: configuration.partitions, replicationFactor: 1, config: config)
    }
}
