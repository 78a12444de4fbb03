import Configuration
import CreditsCore
import CreditsPostgres
import Foundation
import Synchronization
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
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "credits")
        ]
        if let file {
            providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(file)))
        }
        return try read(ConfigReader(providers: providers), environment: environment)
    }

    /// The keys `load` reads with this environment (and no file), e.g. to check that the
    /// documentation lists every key and no other. Keys read only in some configurations (the
    /// PostgreSQL password with `store.url`) are read when the environment sets them up.
    public static func keysRead(environment: [String: String]) throws -> Set<String> {
        let reporter = KeyRecorder()
        let provider = EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "credits")
        _ = try read(ConfigReader(providers: [provider], accessReporter: reporter), environment: environment)
        return reporter.keys.withLock { $0 }
    }

    /// Collects the keys of every configuration access.
    private final class KeyRecorder: AccessReporter {
        let keys = Mutex<Set<String>>([])

        func report(_ event: AccessEvent) {
            // The key as the loader asked for it (the environment provider adds its prefix itself).
            let components = event.metadata.key.components
            keys.withLock { _ = $0.insert(components.joined(separator: ".")) }
        }
    }

    static func read(_ config: ConfigReader, environment: [String: String]) throws -> ServiceConfiguration {
        var result = ServiceConfiguration()
        result.brokers = try text(config, "kafka.brokers", default: result.brokers)
        result.groupID = try text(config, "kafka.group_id", default: result.groupID)
        result.partitions = Int32(try integer(config, "kafka.partitions", default: Int(result.partitions), in: 1...10_000))
        result.createTopics = config.bool(forKey: "kafka.create_topics", default: result.createTopics)
        for entry in config.stringArray(forKey: "kafka.properties", default: []) {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw ConfigurationError(key: "kafka.properties", problem: "\"\(entry)\" is not name=value")
            }
            result.kafkaProperties[parts[0]] = parts[1]
        }
        result.sessionTimeoutMilliseconds = try integer(
            config, "kafka.session_timeout_ms",
            default: result.sessionTimeoutMilliseconds, in: 1_000...3_600_000)
        // CREDITS_INSTANCE_ID (the contract's name) or kafka.instance_id.
        let instanceID = config.string(forKey: "instance_id") ?? config.string(forKey: "kafka.instance_id")
        if let instanceID, !instanceID.isEmpty {
            guard instanceID.count <= 249,
                instanceID.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) })
            else { throw ConfigurationError(key: "kafka.instance_id", problem: "must be 1-249 characters of [A-Za-z0-9._-]") }
            result.instanceID = instanceID
        }
        var topics = result.topics
        topics.usage = try text(config, "kafka.topics.usage", default: topics.usage)
        topics.commands = try text(config, "kafka.topics.commands", default: topics.commands)
        topics.commandResults = try text(config, "kafka.topics.command_results", default: topics.commandResults)
        topics.balanceChanged = try text(config, "kafka.topics.balance_changed", default: topics.balanceChanged)
        topics.lowCredit = try text(config, "kafka.topics.low_credit", default: topics.lowCredit)
        topics.blocks = try text(config, "kafka.topics.blocks", default: topics.blocks)
        topics.deadLetter = try text(config, "kafka.topics.dead_letter", default: topics.deadLetter)
        topics.accounts = try text(config, "kafka.topics.accounts", default: topics.accounts)
        topics.anomalies = try text(config, "kafka.topics.anomalies", default: topics.anomalies)
        topics.callGrants = try text(config, "kafka.topics.call_grants", default: topics.callGrants)
        topics.topUpRequests = try text(config, "kafka.topics.top_up_requests", default: topics.topUpRequests)
        result.topics = topics
        let topicNames = [topics.usage, topics.commands] + topics.outputs
        guard Set(topicNames).count == topicNames.count else {
            throw ConfigurationError(key: "kafka.topics", problem: "every topic needs a name of its own: \(topicNames)")
        }
        result.batchMaxMessages = try integer(
            config, "pipeline.batch_max_messages", default: result.batchMaxMessages,
            in: 1...100_000)
        result.pollTimeoutMilliseconds = Int32(
            try integer(
                config, "pipeline.poll_timeout_ms",
                default: Int(result.pollTimeoutMilliseconds), in: 1...60_000))
        result.maxInFlight = try integer(config, "pipeline.max_in_flight", default: result.maxInFlight, in: 1...10_000_000)
        result.accountsPublishIntervalMilliseconds = try integer(
            config, "accounts.publish_interval_ms", default: result.accountsPublishIntervalMilliseconds, in: 0...60_000)
        result.outputStallMilliseconds = try integer(
            config, "pipeline.output_stall_ms",
            default: result.outputStallMilliseconds, in: 1_000...86_400_000)
        result.storePath = try text(config, "store.path", default: result.storePath)
        if let url = config.string(forKey: "store.url", isSecret: true), !url.isEmpty {
            do {
                result.storeURL = try PostgresStoreURL(url)
            } catch {
                throw ConfigurationError(key: "store.url", problem: error.description)
            }
            // The password from a secret source (env:NAME or file:PATH) rather than the URL.
            if let source = config.string(forKey: "store.password", isSecret: true), !source.isEmpty {
                do {
                    let secret = try Secret.load(source, environment: environment)
                    result.storeURL = result.storeURL?.with(password: String(decoding: secret.bytes, as: UTF8.self))
                } catch {
                    throw ConfigurationError(key: "store.password", problem: "\(error)")
                }
            }
        }
        let synchronous = config.string(forKey: "store.synchronous", default: result.storeSynchronous.rawValue)
        guard let mode = ServiceConfiguration.StoreSynchronous(rawValue: synchronous.lowercased()) else {
            throw ConfigurationError(key: "store.synchronous", problem: "\"\(synchronous)\" is not full or normal")
        }
        result.storeSynchronous = mode
        result.idempotencyRetentionDays = try integer(
            config, "store.idempotency_retention_days",
            default: result.idempotencyRetentionDays, in: 0...36_500)
        result.httpHost = try text(config, "http.host", default: result.httpHost)
        result.httpPort = try integer(config, "http.port", default: result.httpPort, in: 0...65_535)
        result.httpUsageScanLimit = try integer(
            config, "http.usage_scan_limit", default: result.httpUsageScanLimit, in: 1...100_000_000)
        if let token = config.string(forKey: "http.auth_token", isSecret: true), !token.isEmpty {
            result.httpTokens.append(.init(scope: .read, secret: Secret(Array(token.utf8))))
        }
        for (name, secret) in try secrets(
            config, "http.tokens", environment: environment,
            form: "read=env:VARIABLE, metrics=file:PATH, ...")
        {
            guard let scope = ServiceConfiguration.HTTPToken.Scope(rawValue: name) else {
                throw ConfigurationError(key: "http.tokens", problem: "\"\(name)\" is not a scope (read, metrics)")
            }
            result.httpTokens.append(.init(scope: scope, secret: secret))
        }
        result.requireCommandSignature = config.bool(forKey: "commands.require_signature", default: false)
        for (keyID, secret) in try secrets(
            config, "commands.signing_keys", environment: environment,
            form: "KEY_ID=env:VARIABLE or KEY_ID=file:PATH")
        {
            guard !keyID.contains(":") else {
                throw ConfigurationError(key: "commands.signing_keys", problem: "a key id may not contain \":\"")
            }
            result.signingKeys[keyID] = secret
        }
        if result.requireCommandSignature && result.signingKeys.isEmpty {
            throw ConfigurationError(
                key: "commands.signing_keys",
                problem: "commands.require_signature is on but no signing key is configured")
        }
        result.console = try console(config, environment: environment, signingKeys: result.signingKeys)
        result.shutdownTimeoutMilliseconds = try integer(
            config, "shutdown.timeout_ms",
            default: result.shutdownTimeoutMilliseconds, in: 1_000...600_000)
        result.logLevel = config.string(forKey: "log.level", default: result.logLevel)
        guard Self.logLevels.contains(result.logLevel) else {
            throw ConfigurationError(
                key: "log.level",
                problem: "\"\(result.logLevel)\" is not one of "
                    + Self.logLevels.joined(separator: ", "))
        }

        let perUSD = config.string(forKey: "credits_per_usd", default: "100")
        do {
            result.ledger.creditsPerUSD = try CreditAmount(parsing: perUSD)
        } catch {
            throw ConfigurationError(key: "credits_per_usd", problem: "\"\(perUSD)\" \(error)")
        }
        guard result.ledger.creditsPerUSD.micros > 0 else {
            throw ConfigurationError(key: "credits_per_usd", problem: "must be greater than 0")
        }
        for (key, path) in [
            ("anomalies.spike_ratio", \LedgerConfiguration.spikeRatio),
            ("anomalies.min_credits", \LedgerConfiguration.spikeMinimum),
        ] {
            let text = try Self.text(config, key, default: result.ledger[keyPath: path].description)
            guard let value = try? CreditAmount(parsing: text), value.micros > 0 else {
                throw ConfigurationError(key: key, problem: "\"\(text)\" is not a positive number with at most 6 decimals")
            }
            result.ledger[keyPath: path] = value
        }
        let packages = config.stringArray(forKey: "quick_buy.packages", default: ["1000", "5000", "10000"])
        result.ledger.packages = try packages.map(Self.package)
        var names = Set<String>()
        for package in result.ledger.packages where !names.insert(package.name).inserted {
            throw ConfigurationError(key: "quick_buy.packages", problem: "package \"\(package.name)\" is listed twice")
        }
        return result
    }

    /// One Quick Buy package: `AMOUNT`, `NAME=AMOUNT`, either followed by `@DAYSd` (its credits
    /// expire that many days after they are added, 1-36500): `1000`, `starter=500@30d`.
    static func package(_ text: String) throws -> LedgerConfiguration.Package {
        let syntax = "is not AMOUNT, NAME=AMOUNT or either with @DAYSd (e.g. 1000, starter=500@30d)"
        var body = Substring(text)
        var validityDays: Int64?
        if let at = body.lastIndex(of: "@") {
            let suffix = body[body.index(after: at)...]
            guard suffix.hasSuffix("d"), let days = Int64(suffix.dropLast()) else {
                throw ConfigurationError(key: "quick_buy.packages", problem: "\"\(text)\" \(syntax)")
            }
            guard LedgerConfiguration.Package.validityDaysRange.contains(days) else {
                let range = LedgerConfiguration.Package.validityDaysRange
                throw ConfigurationError(
                    key: "quick_buy.packages",
                    problem: "\"\(text)\": the validity must be \(range.lowerBound)-\(range.upperBound) days")
            }
            validityDays = days
            body = body[..<at]
        }
        let parts = body.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let (name, amount) = parts.count == 2 ? (parts[0], parts[1]) : (String(body), String(body))
        guard !name.isEmpty, let credits = try? CreditAmount(parsing: amount), credits.micros > 0 else {
            throw ConfigurationError(key: "quick_buy.packages", problem: "\"\(text)\" \(syntax)")
        }
        return LedgerConfiguration.Package(name: name, credits: credits, validityDays: validityDays)
    }

    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// An integer setting that must lie in `range`; anything else is an error naming the key.
    private static func integer(
        _ config: ConfigReader, _ key: String, default value: Int,
        in range: ClosedRange<Int>
    ) throws -> Int {
        let number: Int
        if let integer = config.int(forKey: ConfigKey(key)) {
            number = integer
        } else if let text = config.string(forKey: ConfigKey(key)) {
            guard let parsed = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw ConfigurationError(key: key, problem: "\"\(text)\" is not a whole number")
            }
            number = parsed
        } else {
            return value
        }
        guard range.contains(number) else {
            throw ConfigurationError(key: key, problem: "\(number) is out of range \(range.lowerBound)-\(range.upperBound)")
        }
        return number
    }

    /// A list of `name=env:VARIABLE` / `name=file:PATH` entries, each secret loaded; errors name
    /// the key and the entry's name, never a secret.
    private static func secrets(
        _ config: ConfigReader, _ key: String, environment: [String: String],
        form: String
    ) throws -> [(name: String, secret: Secret)] {
        try config.stringArray(forKey: ConfigKey(key), isSecret: true, default: []).map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw ConfigurationError(key: key, problem: "entries are \(form)")
            }
            do {
                return (parts[0], try Secret.load(parts[1], environment: environment))
            } catch {
                throw ConfigurationError(key: key, problem: "\(parts[0]): \(error)")
            }
        }
    }

    /// `console.*`: who may sign in, how long a session lasts, which key signs.
    private static func console(
        _ config: ConfigReader, environment: [String: String], signingKeys: [String: Secret]
    ) throws -> ServiceConfiguration.Console {
        var console = ServiceConfiguration.Console()
        console.enabled = config.bool(forKey: "console.enabled", default: true)
        for (name, token) in try secrets(
            config, "console.tokens", environment: environment, form: "OPERATOR_NAME=env:VARIABLE or OPERATOR_NAME=file:PATH")
        {
            guard name.count <= 64, name.allSatisfy({ $0.isLetter || $0.isNumber || "._@-".contains($0) }) else {
                throw ConfigurationError(
                    key: "console.tokens", problem: "\"\(name)\" is not an operator name (1-64 letters, digits, . _ @ -)")
            }
            guard token.bytes.count >= 16 else {
                throw ConfigurationError(key: "console.tokens", problem: "\(name): the token must have at least 16 characters")
            }
            guard !console.operators.contains(where: { $0.name == name }) else {
                throw ConfigurationError(key: "console.tokens", problem: "\(name) is listed twice")
            }
            console.operators.append(.init(name: name, token: token))
        }
        if let text = config.string(forKey: "console.session_timeout") {
            guard let seconds = duration(text), (60...604_800).contains(seconds) else {
                throw ConfigurationError(
                    key: "console.session_timeout",
                    problem: "\"\(text)\" is not a duration from 60s to 7d (e.g. 30m, 8h, 3600)")
            }
            console.sessionTimeoutSeconds = seconds
        }
        if let keyID = config.string(forKey: "console.signing_key"), !keyID.isEmpty {
            guard signingKeys[keyID] != nil else {
                throw ConfigurationError(
                    key: "console.signing_key", problem: "\"\(keyID)\" is not a key of commands.signing_keys")
            }
            console.signingKeyID = keyID
        }
        return console
    }

    /// Seconds of a duration written `90`, `90s`, `30m`, `8h` or `2d`.
    static func duration(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        guard let last = trimmed.last else { return nil }
        let (digits, unit) = units[last].map { (trimmed.dropLast(), $0) } ?? (Substring(trimmed), 1)
        guard !digits.isEmpty, digits.count <= 7, digits.allSatisfy(\.isASCII), let value = Int(digits) else { return nil }
        return value * unit
    }

    /// A text setting that must not be empty when given.
    private static func text(_ config: ConfigReader, _ key: String, default value: String) throws -> String {
        guard let text = config.string(forKey: ConfigKey(key)) else { return value }
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ConfigurationError(key: key, problem: "must not be empty")
        }
        return text
    }
}
