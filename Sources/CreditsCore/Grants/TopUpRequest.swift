/// An automatic top-up to charge (`credits.top-up-requests`). The payment side charges the
/// customer and sends `quick_buy` with `command_id` = `requestID`, so a request paid twice is
/// applied once.
public struct TopUpRequest: Sendable, Equatable {
    /// Deterministic: customer, the entry that crossed the threshold, and `top-up`.
    public var eventID: String
    public var customerID: String
    /// The configured Quick Buy package to buy.
    public var package: String
    /// The package's credits.
    public var amount: CreditAmount
    /// The balance after the entry that crossed `auto_top_up_below`.
    public var balance: CreditAmount
    public var entryID: Int64
    public var occurredAt: Timestamp

    /// The idempotency key the payment side's `quick_buy` carries: the event id.
    public var requestID: String { eventID }
}
