import Configuration
import CreditsCore
import SystemPackage

/// A configuration value that cannot be used, named by its key.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let key: String
    public let problem: String

    public var description: String { "configuration \(key): \(problem)" }
}

/// Reads `ServiceConfiguration` from environment variables (`CREDITS_…`, highest priority),
/// then the YAML file, then the defaults.
public enum ConfigurationLoader {
    /// Loads the configuration; `file` may be nil (environment and defaults only).
    public static func load(file: String?, environment: [String: String]) async throws -> ServiceConfiguration {
        var providers: [any ConfigProvider] = [
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "credits"),
        ]
        if let file {
            providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(file)))
        }
        return try read(ConfigReader(providers: providers))
    }

    static func read(_ config: ConfigReader) throws -> ServiceConfiguration {
        var result = ServiceConfiguration()
        result.brokers = config.string(forKey: "kafka.brokers", default: result.brokers)
        result.groupID = config.string(forKey: "kafka.group_id", default: result.groupID)
        result.partitions = Int32(config.int(forKey: "kafka.partitions", default: Int(result.partitions)))
        result.createTopics = config.bool(forKey: "kafka.create_topics", default: result.createTopics)
        for entry in config.stringArray(forKey: "kafka.properties", default: []) {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else {
                throw ConfigurationError(key: "kafka.properties", problem: "\"\(entry)\" is not name=value")
            }
            result.kafkaProperties[parts[0]] = parts[1]
        }
        var topics = result.topics
        topics.usage = config.string(forKey: "kafka.topics.usage", default: topics.usage)
        topics.commands = config.string(forKey: "kafka.topics.commands", default: topics.commands)
        topics.commandResults = config.string(forKey: "kafka.topics.command_results", default: topics.commandResults)
        topics.balanceChanged = config.string(forKey: "kafka.topics.balance_changed", default: topics.balanceChanged)
        topics.lowCredit = config.string(forKey: "kafka.topics.low_credit", default: topics.lowCredit)
        topics.blocks = config.string(forKey: "kafka.topics.blocks", default: topics.blocks)
        topics.deadLetter = config.string(forKey: "kafka.topics.dead_letter", default: topics.deadLetter)
        result.topics = topics
        result.batchMaxMessages = config.int(forKey: "pipeline.batch_max_messages", default: result.batchMaxMessages)
        result.pollTimeoutMilliseconds = Int32(config.int(forKey: "pipeline.poll_timeout_ms",
                                                          default: Int(result.pollTimeoutMilliseconds)))
        result.maxInFlight = config.int(forKey: "pipeline.max_in_flight", default: result.maxInFlight)
        result.storePath = config.string(forKey: "store.path", default: result.storePath)
        result.idempotencyRetentionDays = config.int(forKey: "store.idempotency_retention_days",
                                                     default: result.idempotencyRetentionDays)
        result.httpHost = config.string(forKey: "http.host", default: result.httpHost)
        result.httpPort = config.int(forKey: "http.port", default: result.httpPort)
        result.httpAuthToken = config.string(forKey: "http.auth_token", isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
        result.logLevel = config.string(forKey: "log.level", default: result.logLevel)

        let perUSD = config.string(forKey: "credits_per_usd", default: "100")
        do {
            result.ledger.creditsPerUSD = try CreditAmount(parsing: perUSD)
        } catch {
            throw ConfigurationError(key: "credits_per_usd", problem: "\"\(perUSD)\" \(error)")
        }
        let packages = config.stringArray(forKey: "quick_buy.packages", default: ["1000", "5000", "10000"])
        result.ledger.packages = try packages.map { text in
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            let (name, amount) = parts.count == 2 ? (parts[0], parts[1]) : (text, text)
            guard let credits = try? CreditAmount(parsing: amount), credits.micros > 0 else {
                throw ConfigurationError(key: "quick_buy.packages", problem: "\"\(text)\" is not a credit amount or name=amount")
            }
            return LedgerConfiguration.Package(name: name, credits: credits)
        }
        try validate(result)
        return result
    }

    static func validate(_ config: ServiceConfiguration) throws {
        guard config.partitions >= 1 else { throw ConfigurationError(key: "kafka.partitions", problem: "must be at least 1") }
        guard (1...100_000).contains(config.batchMaxMessages) else {
            throw ConfigurationError(key: "pipeline.batch_max_messages", problem: "must be 1-100000")
        }
        guard config.idempotencyRetentionDays >= 0 else {
            throw ConfigurationError(key: "store.idempotency_retention_days", problem: "must be 0 (forever) or more days")
        }
        guard (0...65_535).contains(config.httpPort) else {
            throw ConfigurationError(key: "http.port", problem: "must be 0-65535")
        }
        guard config.ledger.creditsPerUSD.micros > 0 else {
            throw ConfigurationError(key: "credits_per_usd", problem: "must be greater than 0")
        }
    }
}
