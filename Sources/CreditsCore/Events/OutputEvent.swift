/// A low-credit alert (`credits.low-credit`).
public struct LowCreditAlert: Sendable, Equatable {
    public var eventID: String
    public var customerID: String
    public var balance: CreditAmount
    public var threshold: CreditAmount
    /// Absent when a settings change, not an entry, triggered the alert.
    public var entryID: Int64?
    public var occurredAt: Timestamp
    /// Minutes left, burn rate and projected depletion when the alert went out.
    public var projection: AccountProjection
}

/// Unusual consumption (`credits.anomalies`): one clock hour's usage far above the customer's
/// average hourly usage of the 7 days before.
public struct UsageAnomaly: Sendable, Equatable {
    public var eventID: String
    public var customerID: String
    /// The clock hour: `[windowStart, windowEnd)`, by `occurred_at`.
    public var windowStart: Timestamp
    public var windowEnd: Timestamp
    public var used: CreditAmount
    public var baselinePerHour: CreditAmount
    /// used / baseline, in hundredths (rounded down).
    public var ratioHundredths: Int64
    public var occurredAt: Timestamp
}

/// The whole current state of one account (`credits.accounts`, compacted by customer).
public struct AccountState: Sendable, Equatable {
    public var account: CustomerAccount
    public var updatedAt: Timestamp

    public init(_ account: CustomerAccount, at now: Timestamp) {
        self.account = account
        updatedAt = now
    }

    /// The state a stored account publishes: as of its last change (`versionedAt`), so that the
    /// same state sent again (after a crash) is the same message; `now` for an account stored
    /// before that time was kept.
    public init(newestOf account: CustomerAccount, otherwise now: Timestamp) {
        self.init(account, at: account.versionedAt ?? now)
    }

    /// Minutes left, burn rate and projected depletion as of `updatedAt` (computed when the
    /// message is encoded, off the apply path).
    public var projection: AccountProjection { AccountProjection(account, at: updatedAt) }
}

/// A change of block state (`credits.blocks`).
public struct BlockEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case depleted, blocked, unblocked
    }

    public var eventID: String
    public var customerID: String
    public var kind: Kind
    public var balance: CreditAmount
    public var previousState: String?
    public var blockAt: Timestamp?
    public var reason: String?
    public var occurredAt: Timestamp
}

/// The answer to one admin command (`credits.command-results`).
public struct CommandResult: Sendable, Equatable {
    public enum Status: String, Sendable, Equatable {
        case applied, rejected, duplicate
    }

    public var commandID: String
    public var customerID: String
    public var status: Status
    public var reason: ReasonCode?
    public var message: String?
    public var entryID: Int64?
    public var balance: CreditAmount
    /// For `duplicate`: the first outcome.
    public var originalStatus: Status?
    public var processedAt: Timestamp

    public init(
        commandID: String, customerID: String, status: Status, reason: ReasonCode? = nil,
        message: String? = nil, entryID: Int64? = nil, balance: CreditAmount,
        originalStatus: Status? = nil, processedAt: Timestamp
    ) {
        self.commandID = commandID
        self.customerID = customerID
        self.status = status
        self.reason = reason
        self.message = message
        self.entryID = entryID
        self.balance = balance
        self.originalStatus = originalStatus
        self.processedAt = processedAt
    }
}

/// An input that cannot be applied (`credits.dead-letter`).
/// The payload is echoed as text, cut to the first 64 KiB so the dead letter always fits a
/// Kafka message (`payload_truncated` and `payload_bytes` then say so).
public struct DeadLetter: Sendable, Equatable {
    public var sourceTopic: String
    public var partition: Int32
    public var offset: Int64
    /// The original key, or its beginning (see `keyTruncatedFrom`), with U+0000 replaced.
    public var key: String?
    /// The original key's size in bytes when `key` is not the key as it came.
    public var keyTruncatedFrom: Int?
    public var payload: String
    /// The original payload's size when `payload` holds only its beginning.
    public var truncatedFrom: Int?
    public var error: InputError
    public var at: Timestamp

    public init(
        sourceTopic: String, partition: Int32, offset: Int64, key: String?, payload: [UInt8],
        error: InputError, at: Timestamp
    ) {
        self.sourceTopic = sourceTopic
        self.partition = partition
        self.offset = offset
        if let key {
            let kept = Self.outputKey(key)
            self.key = kept
            keyTruncatedFrom = kept == key ? nil : key.utf8.count
        } else {
            self.key = nil
        }
        let limit = InputDecoder.maximumPayloadBytes
        self.payload = String(decoding: payload.prefix(limit), as: UTF8.self)
        self.truncatedFrom = payload.count > limit ? payload.count : nil
        self.error = error
        self.at = at
    }
}

extension DeadLetter {
    /// Longest key a dead letter carries, in bytes: the Kafka key and the `key` field both hold
    /// it, so any input key, however large, leaves a dead letter far below a broker's message size.
    public static let maximumKeyBytes = 1_024

    /// The key as a dead letter carries it: at most `maximumKeyBytes` (cut at a character), with
    /// U+0000 (which PostgreSQL's text cannot hold) replaced by U+FFFD.
    static func outputKey(_ key: String) -> String {
        var scalars = String.UnicodeScalarView()
        var bytes = 0
        for scalar in key.unicodeScalars {
            let kept: Unicode.Scalar = scalar == "\u{0}" ? "\u{FFFD}" : scalar
            bytes += UTF8.width(kept)
            guard bytes <= maximumKeyBytes else { break }
            scalars.append(kept)
        }
        return String(scalars)
    }
}

/// Everything the ledger emits, in the order it happened.
public enum OutputEvent: Sendable, Equatable {
    case balanceChanged(LedgerEntry)
    case lowCredit(LowCreditAlert)
    case block(BlockEvent)
    case commandResult(CommandResult)
    case deadLetter(DeadLetter)
    /// Boxed: an account state is larger than the other events, and every event is copied along
    /// the apply path at the size of the largest case.
    indirect case account(AccountState)
    case anomaly(UsageAnomaly)
    /// A hold decision for a live call (`credits.call-grants`).
    case callDecision(CallDecision)
    /// An automatic top-up to charge (`credits.top-up-requests`).
    case topUpRequest(TopUpRequest)
    /// An event already encoded (as read back from an outbox).
    case encoded(OutboundMessage)
}
