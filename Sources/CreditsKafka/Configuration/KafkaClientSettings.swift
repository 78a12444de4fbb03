/// How to reach the brokers, plus any librdkafka property to pass through (security, tuning).
public struct KafkaClientSettings: Sendable, Equatable {
    /// `host:port,host:port`.
    public var bootstrapServers: String
    /// Extra librdkafka properties, e.g. `security.protocol`, `sasl.mechanisms`.
    public var properties: [String: String]

    public init(bootstrapServers: String, properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.properties = properties
    }

    /// The librdkafka properties of a client: `bootstrap.servers`, the client's own `defaults`,
    /// and the pass-through properties, which win.
    func librdkafkaProperties(defaults: [String: String] = [:]) -> [String: String] {
        var result = defaults
        result["bootstrap.servers"] = bootstrapServers
        result.merge(properties) { _, override in override }
        return result
    }
}
