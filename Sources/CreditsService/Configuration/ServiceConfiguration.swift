import CreditsCore
import CreditsKafka
import CreditsPostgres

/// Everything `serve` needs, read from `config/credits-ledger.yaml` and the environment.
public struct ServiceConfiguration: Sendable, Equatable {
    /// The names of the contract's topics (all configurable).
    public struct Topics: Sendable, Equatable {
        public var usage = "credits.usage"
        public var commands = "credits.commands"
        public var commandResults = "credits.command-results"
        public var balanceChanged = "credits.balance-changed"
        public var lowCredit = "credits.low-credit"
        public var blocks = "credits.blocks"
        public var deadLetter = "credits.dead-letter"
        public var accounts = "credits.accounts"
        public var anomalies = "credits.anomalies"
        public var callGrants = "credits.call-grants"
        public var topUpRequests = "credits.top-up-requests"

        public init() {}

        /// The topic an output event goes to.
        public func name(of topic: OutputTopic) -> String {
            switch topic {
            case .commandResults: commandResults
            case .balanceChanged: balanceChanged
            case .lowCredit: lowCredit
            case .blocks: blocks
            case .deadLetter: deadLetter
            case .accounts: accounts
            case .anomalies: anomalies
            case .callGrants: callGrants
            case .topUpRequests: topUpRequests
            }
        }

        public var outputs: [String] { OutputTopic.allCases.map(name(of:)) }
    }

    /// `embedded` (start a broker on loopback) or `host:port,...`.
    public var brokers = "embedded"
    public var groupID = "credits-ledger"
    public var topics = Topics()
    /// Partitions of every topic this service creates (the two inputs must match).
    public var partitions: Int32 = 6
    /// Create missing topics at start (always on with the embedded broker).
    public var createTopics = false
    /// Extra librdkafka properties, passed through as given (they win over the settings below).
    public var kafkaProperties: [String: String] = [:]
    /// How long the group waits for a silent member before moving its partitions elsewhere.
    public var sessionTimeoutMilliseconds = 10_000
    /// A stable name of this instance (`group.instance.id`: Kafka static membership), so a
    /// restarted instance takes its partitions back without a rebalance.
    public var instanceID: String?
    /// Most input messages applied in one store transaction.
    public var batchMaxMessages = 5_000
    /// How long a poll waits for the first message of a batch.
    public var pollTimeoutMilliseconds: Int32 = 100
    /// Output messages produced but not yet acknowledged before consuming pauses (backpressure).
    public var maxInFlight = 200_000
    /// How long account states wait before they go to `credits.accounts`, newest per customer
    /// (either store): the table lags by up to this and a tenth, and each customer gets at most
    /// one message per interval. 0: after every batch.
    public var accountsPublishIntervalMilliseconds = 1_000
    public var storePath = "data/credits-ledger.sqlite"
    /// A shared PostgreSQL store (`store.url`, `CREDITS_STORE_URL`): any number of instances with
    /// the same group and URL share the work. nil: the SQLite file at `storePath`.
    public var storeURL: PostgresStoreURL?
    /// SQLite's `synchronous` for the write connection: `full` (default) syncs every batch's
    /// commit to disk; `normal` may lose the last batches on a power loss or OS crash.
    public var storeSynchronous: StoreSynchronous = .full
    /// How long an output message may stay undelivered before readiness reports the output stuck.
    public var outputStallMilliseconds = 60_000
    /// How long a graceful stop may take before the service gives up on what needs the cluster.
    public var shutdownTimeoutMilliseconds = 20_000
    /// Days to remember event_ids and command_ids; 0 keeps them forever (memory grows with them).
    public var idempotencyRetentionDays = 0
    /// Loopback unless configured: the read API and /metrics are not offered to the network by default.
    public var httpHost = "127.0.0.1"
    public var httpPort = 8080
    /// Most usage entries one `GET /v1/customers/{id}/usage` reads (inside one read snapshot);
    /// a range holding more is answered 422 `range_too_large`.
    public var httpUsageScanLimit = 200_000
    /// Bearer tokens for HTTP, each good for one scope. With none of a scope, its paths are open.
    public var httpTokens: [HTTPToken] = []
    /// Refuse admin commands without a valid `credits-signature` header.
    public var requireCommandSignature = false
    /// Key id -> secret, for command signatures.
    public var signingKeys: [String: Secret] = [:]
    public var ledger = LedgerConfiguration()
    /// The operator console at `/console` (`console.*`).
    public var console = Console()

    /// The ledger's rules as the pipeline applies them: `ledger` with commands bounded in age
    /// when idempotency keys are forgotten (`idempotencyRetentionDays`).
    public var ledgerRules: LedgerConfiguration {
        var rules = ledger
        rules.commandMaxAgeSeconds = LedgerConfiguration.commandMaxAge(retentionDays: idempotencyRetentionDays)
        return rules
    }
    public var logLevel = "info"

    public init() {}

    /// True when the service starts its own broker.
    public var usesEmbeddedBroker: Bool { brokers.isEmpty || brokers == "embedded" }

    /// A bearer token and what it may read.
    public struct HTTPToken: Sendable, Equatable {
        /// `read`: the `/v1` read API; `metrics`: `/metrics`.
        public enum Scope: String, Sendable, Equatable, CaseIterable {
            case read, metrics
        }

        public var scope: Scope
        public var secret: Secret

        public init(scope: Scope, secret: Secret) {
            self.scope = scope
            self.secret = secret
        }
    }

    /// The operator console's settings.
    public struct Console: Sendable, Equatable {
        /// Serve `/console` (`console.enabled`).
        public var enabled = true
        /// Sign-in tokens, one per operator (`console.tokens`, `operator_name=env:VAR`).
        public var operators: [Operator] = []
        /// Seconds a session lasts without a request (`console.session_timeout`).
        public var sessionTimeoutSeconds = 28_800
        /// The key of `commands.signing_keys` the console signs with (default: the first by id).
        public var signingKeyID: String?

        /// An operator who may sign in: the name becomes the commands' `actor`.
        public struct Operator: Sendable, Equatable {
            public var name: String
            public var token: Secret

            public init(name: String, token: Secret) {
                self.name = name
                self.token = token
            }
        }

        public init() {}
    }

    /// The values of `store.synchronous`.
    public enum StoreSynchronous: String, Sendable, Equatable, CaseIterable {
        case full, normal
    }

    /// The group-membership properties of the service's consumer (`kafka.properties` override them),
    /// with what the embedded broker needs of its clients when the service runs one.
    public var consumerProperties: [String: String] {
        var properties = [
            "session.timeout.ms": String(sessionTimeoutMilliseconds),
            "heartbeat.interval.ms": String(min(3_000, sessionTimeoutMilliseconds / 3)),
        ]
        if let instanceID { properties["group.instance.id"] = instanceID }
        if usesEmbeddedBroker { properties.merge(EmbeddedBroker.clientProperties) { _, embedded in embedded } }
        return properties
    }

    /// Client settings for a broker address.
    public func kafkaSettings(bootstrapServers: String) -> KafkaClientSettings {
        KafkaClientSettings(bootstrapServers: bootstrapServers, properties: kafkaProperties)
    }
}

extension ServiceConfiguration: CustomStringConvertible, CustomDebugStringConvertible {
    /// A summary for logs: no secret, and of `kafka.properties` only the names (they may hold
    /// `sasl.password` and the like).
    public var description: String {
        "ServiceConfiguration(brokers: \(brokers), group_id: \(groupID), store: \(storeURL.map(String.init(describing:)) ?? storePath), "
            + "http: \(httpHost):\(httpPort), kafka.properties: \(kafkaProperties.keys.sorted()), "
            + "http tokens: \(httpTokens.count), signing keys: \(signingKeys.keys.sorted()), "
            + "signatures required: \(requireCommandSignature), console: \(console.enabled ? "on" : "off"), "
            + "console operators: \(console.operators.map(\.name).sorted()))"
    }

    public var debugDescription: String { description }
}
