import CreditsCore
import Crypto

/// Where an input message came from: enough to dead-letter it and to commit its offset.
public struct MessageOrigin: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: String?
    public var payload: [UInt8]

    public init(topic: String, partition: Int32, offset: Int64, key: String?, payload: [UInt8]) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.payload = payload
    }
}

/// An input message after decoding, ready for the store to apply.
public struct InboundMessage: Sendable, Equatable {
    public let origin: MessageOrigin
    public let input: DecodedInput
    /// SHA-256 of the input's canonical form (empty for an invalid input): computed here, where
    /// the pipeline decodes on all cores, and compared by the store with a repeat's.
    let digest: [UInt8]

    public init(origin: MessageOrigin, input: DecodedInput) {
        self.origin = origin
        self.input = input
        switch input {
        case .usage(let usage): digest = Array(SHA256.hash(data: usage.canonicalForm.bytes))
        case .call(let call): digest = Array(SHA256.hash(data: call.canonicalForm.bytes))
        case .command(let command): digest = Array(SHA256.hash(data: command.canonicalForm.bytes))
        case .invalid: digest = []
        }
    }
}

/// What one batch did, for metrics and logs.
public struct BatchReport: Sendable, Equatable {
    /// Inputs applied (usage charged or not, commands applied or rejected by a ledger rule).
    public var applied = 0
    /// Usage events of customers without AI credits (applied, no entry).
    public var usageNotCharged = 0
    /// Repeated idempotency keys with the same fields.
    public var duplicates = 0
    /// Dead-lettered inputs by reason.
    public var deadLettered: [ReasonCode: Int] = [:]
    /// Commands rejected by a ledger rule, by reason.
    public var rejectedCommands: [ReasonCode: Int] = [:]
    public var entries = 0
    public var outboxMessages = 0
    /// Customers moved from grace to blocked.
    public var deadlinesFired = 0
    /// Usage spikes reported (`credits.anomalies`).
    public var anomalies = 0
    /// Call decisions published (`credits.call-grants`), by decision.
    public var callDecisions: [CallDecision.Kind: Int] = [:]
    /// Automatic top-ups requested (`credits.top-up-requests`).
    public var topUpRequests = 0
    /// Grants whose remaining credits expired (`expired` entries).
    public var expiredEntries = 0
    /// The next offset to consume for each partition the batch had messages from, as stored.
    public var nextOffsets: [TopicPartition: Int64] = [:]
    /// The messages this batch added to the outbox, to produce now.
    public var outbox: [OutboxRecord] = []
    /// The customers whose account changed, in order, whose `credits.accounts` state has no
    /// outbox row of its own: each also has a row in `outbox`, from which the state is rebuilt
    /// after a crash, so those rows must stay until the states are delivered (see
    /// `OutboxPublisher.holdMark(from:)`). The states are read when they are sent
    /// (`LedgerWriter.accountStates(of:)`), so a customer changed again meanwhile goes out once,
    /// with its newest state.
    public var changedAccounts: [String] = []
    /// The same counts per input topic.
    public var byTopic: [String: TopicCounts] = [:]

    /// Outcomes of the messages of one input topic.
    public struct TopicCounts: Sendable, Equatable {
        public var applied = 0
        public var duplicates = 0
        public var deadLettered: [ReasonCode: Int] = [:]

        public init(applied: Int = 0, duplicates: Int = 0, deadLettered: [ReasonCode: Int] = [:]) {
            self.applied = applied
            self.duplicates = duplicates
            self.deadLettered = deadLettered
        }
    }

    public init() {}

    /// Counts what an output event reports (anomalies, call decisions, top-ups, expiries).
    mutating func count(_ event: OutputEvent) {
        switch event {
        case .anomaly: anomalies += 1
        case .callDecision(let decision): callDecisions[decision.kind, default: 0] += 1
        case .topUpRequest: topUpRequests += 1
        case .balanceChanged(let entry) where entry.kind == .expired: expiredEntries += 1
        default: break
        }
    }

    mutating func countApplied(_ topic: String) {
        applied += 1
        byTopic[topic, default: TopicCounts()].applied += 1
    }

    mutating func countDuplicate(_ topic: String) {
        duplicates += 1
        byTopic[topic, default: TopicCounts()].duplicates += 1
    }

    mutating func countDeadLetter(_ topic: String, _ reason: ReasonCode) {
        deadLettered[reason, default: 0] += 1
        byTopic[topic, default: TopicCounts()].deadLettered[reason, default: 0] += 1
    }
}
