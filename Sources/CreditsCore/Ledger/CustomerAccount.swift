/// Everything the ledger knows about one customer between inputs.
public struct CustomerAccount: Sendable, Equatable {
    public var customerID: String
    public var creditsEnabled: Bool
    public var balance: CreditAmount
    /// The id of the newest entry; 0 before the first.
    public var lastEntryID: Int64
    /// When the balance last changed; nil before the first entry.
    public var balanceUpdatedAt: Timestamp?
    public var blockState: BlockState
    /// True once a low-credit alert went out for the current crossing; re-armed above the threshold.
    public var lowCreditAlerted: Bool
    public var settings: CustomerSettings
    /// Grows by one with every change of the account (`credits.accounts` readers keep the highest).
    public var version: Int64
    /// When `version` last grew: the `updated_at` of the account's newest `credits.accounts`
    /// state (so a state sent again is the same message). Nil before the first change.
    public var versionedAt: Timestamp?
    /// Used credits per hour over the last 24 hours, for the burn rate.
    public var usage: UsageWindow
    /// Live calls and their holds, and the newest decisions of recent calls.
    public var calls: CallBook
    /// Grants with credits left, in draw-down order.
    public var grants: GrantBook
    /// The newest entry's chain hash (`EntryHash.genesis` before the first entry).
    public var headHash: ChainHash
    /// True once an automatic top-up was requested for the current fall below
    /// `auto_top_up_below`; re-armed when an added entry leaves the balance above it.
    public var topUpRequested: Bool

    public init(
        customerID: String, creditsEnabled: Bool = false, balance: CreditAmount = .zero,
        lastEntryID: Int64 = 0, balanceUpdatedAt: Timestamp? = nil, blockState: BlockState = .active,
        lowCreditAlerted: Bool = false, settings: CustomerSettings = CustomerSettings(), version: Int64 = 0,
        versionedAt: Timestamp? = nil, usage: UsageWindow = UsageWindow(), calls: CallBook = CallBook(),
        grants: GrantBook = GrantBook(), headHash: ChainHash = .genesis, topUpRequested: Bool = false
    ) {
        self.grants = grants
        self.headHash = headHash
        self.topUpRequested = topUpRequested
        self.calls = calls
        self.customerID = customerID
        self.creditsEnabled = creditsEnabled
        self.balance = balance
        self.lastEntryID = lastEntryID
        self.balanceUpdatedAt = balanceUpdatedAt
        self.blockState = blockState
        self.lowCreditAlerted = lowCreditAlerted
        self.settings = settings
        self.version = version
        self.versionedAt = versionedAt
        self.usage = usage
    }

    /// The sum of the live calls' holds.
    public var held: CreditAmount { calls.held }

    /// balance - held: what a new hold may take.
    public var available: CreditAmount { CreditAmount(micros: balance.micros - held.micros) }

    /// The earliest time something is due for this customer without an input: the end of its
    /// grace period, a live call's hold expiry, or a grant's expiry. The stores index it;
    /// `Ledger.fireDeadlines` does what is due.
    public var nextDeadline: Timestamp? {
        var due = calls.nextExpiry
        if let expiry = grants.nextExpiry?.at { due = min(due ?? expiry, expiry) }
        if case .grace(let blockAt, _) = blockState, balance.micros <= 0 { due = min(due ?? blockAt, blockAt) }
        return due
    }

    /// A customer never seen before: disabled, balance 0, default settings.
    public static func new(_ customerID: String) -> CustomerAccount { CustomerAccount(customerID: customerID) }
}
