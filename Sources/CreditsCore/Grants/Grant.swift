/// Credits an `added` entry gave a customer, and what is left of them. `used`, `deducted` and
/// `expired` entries draw from the grants in `GrantBook`'s order.
public struct Grant: Sendable, Equatable {
    /// The `added` entry that made the grant.
    public var entryID: Int64
    /// The credits the entry added.
    public var amount: CreditAmount
    /// What is left to draw from or to expire (0 ≤ remaining ≤ amount).
    public var remaining: CreditAmount
    /// When the rest expires; nil: never.
    public var expiresAt: Timestamp?
    /// The entry's note.
    public var note: String
    /// When the entry was recorded.
    public var addedAt: Timestamp

    public init(
        entryID: Int64, amount: CreditAmount, remaining: CreditAmount, expiresAt: Timestamp?, note: String,
        addedAt: Timestamp
    ) {
        self.entryID = entryID
        self.amount = amount
        self.remaining = remaining
        self.expiresAt = expiresAt
        self.note = note
        self.addedAt = addedAt
    }

    /// The contract's draw-down order: the earliest `expires_at` first, grants without expiry
    /// last, equal expiry oldest (lowest entry id) first.
    public static func drawsBefore(_ a: Grant, _ b: Grant) -> Bool {
        switch (a.expiresAt, b.expiresAt) {
        case (let x?, let y?) where x != y: x < y
        case (.some, .none): true
        case (.none, .some): false
        default: a.entryID < b.entryID
        }
    }
}

/// A grant a transition made or drew from, as it is afterwards.
public struct GrantChange: Sendable, Equatable {
    public var grant: Grant
    /// The transition made the grant (its `added` entry is among the transition's entries).
    public var isNew: Bool

    public init(grant: Grant, isNew: Bool) {
        self.grant = grant
        self.isNew = isNew
    }
}

/// The credits of the first grant that will expire (`next_expiry` of an account).
public struct NextExpiry: Sendable, Equatable {
    public var at: Timestamp
    public var amount: CreditAmount

    public init(at: Timestamp, amount: CreditAmount) {
        self.at = at
        self.amount = amount
    }
}
