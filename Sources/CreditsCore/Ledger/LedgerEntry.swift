/// One line of a customer's credit history.
public struct LedgerEntry: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case added, deducted, used, expired
    }

    /// What made the entry: a usage event or an admin command, by its idempotency key, or the
    /// expiry of a grant, by the grant's entry id.
    public enum Source: Sendable, Equatable {
        case usage(eventID: String)
        case command(commandID: String)
        case expiry(grantEntryID: Int64)

        public var kind: String {
            switch self {
            case .usage: "usage"
            case .command: "command"
            case .expiry: "expiry"
            }
        }

        public var id: String {
            switch self {
            case .usage(let id), .command(let id): id
            case .expiry(let entryID): String(entryID)
            }
        }

        /// The source from its stored kind code (0 usage, 1 command, 2 expiry) and id.
        public init(code: Int64, id: String) {
            switch code {
            case 0: self = .usage(eventID: id)
            case 2: self = .expiry(grantEntryID: Int64(id) ?? 0)
            default: self = .command(commandID: id)
            }
        }

        /// The stored kind code.
        public var code: Int64 {
            switch self {
            case .usage: 0
            case .command: 1
            case .expiry: 2
            }
        }
    }

    public var customerID: String
    /// 1, 2, 3 … per customer, without gaps.
    public var entryID: Int64
    public var kind: Kind
    /// Signed: negative for used and deducted.
    public var amount: CreditAmount
    /// The balance after this entry.
    public var balance: CreditAmount
    public var note: String
    public var source: Source
    public var actor: String?
    /// For used entries: the charge part by part.
    public var breakdown: Pricing.Charge?
    /// For deducted entries: refund, correction or manual.
    public var deductReason: AdminCommand.DeductReason?
    public var occurredAt: Timestamp
    public var recordedAt: Timestamp
    /// For added entries: when the grant's credits expire (nil: never).
    public var expiresAt: Timestamp?
    /// The chain hash (`EntryHash`) after the customer's previous entry; lowercase hex.
    public var hash: ChainHash

    public init(
        customerID: String, entryID: Int64, kind: Kind, amount: CreditAmount, balance: CreditAmount,
        note: String, source: Source, actor: String? = nil, breakdown: Pricing.Charge? = nil,
        deductReason: AdminCommand.DeductReason? = nil, occurredAt: Timestamp, recordedAt: Timestamp,
        expiresAt: Timestamp? = nil, hash: ChainHash = .genesis
    ) {
        self.expiresAt = expiresAt
        self.hash = hash
        self.customerID = customerID
        self.entryID = entryID
        self.kind = kind
        self.amount = amount
        self.balance = balance
        self.note = note
        self.source = source
        self.actor = actor
        self.breakdown = breakdown
        self.deductReason = deductReason
        self.occurredAt = occurredAt
        self.recordedAt = recordedAt
    }
}
