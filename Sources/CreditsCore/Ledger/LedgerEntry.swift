/// One line of a customer's credit history.
public struct LedgerEntry: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case added, deducted, used
    }

    /// What made the entry: a usage event or an admin command, by its idempotency key.
    public enum Source: Sendable, Equatable {
        case usage(eventID: String)
        case command(commandID: String)

        public var kind: String {
            switch self {
            case .usage: "usage"
            case .command: "command"
            }
        }

        public var id: String {
            switch self {
            case .usage(let id), .command(let id): id
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

    public init(
        customerID: String, entryID: Int64, kind: Kind, amount: CreditAmount, balance: CreditAmount,
        note: String, source: Source, actor: String? = nil, breakdown: Pricing.Charge? = nil,
        deductReason: AdminCommand.DeductReason? = nil, occurredAt: Timestamp, recordedAt: Timestamp
    ) {
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
