/// One hold decision for a live call (`credits.call-grants`).
public struct CallDecision: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// Admitted or extended: the call may run until `grantedSeconds` (no limit when absent).
        case granted
        /// Not admitted (`reason` says why); nothing held.
        case denied
        /// Nothing more can be held: the platform must end the call by `grantedSeconds`.
        case final
        /// The call ended; its hold is released.
        case released
        /// The call went silent past its hold; its hold is released.
        case expired
    }

    /// Why a call was denied or granted without a limit.
    public enum Reason: String, Sendable, Equatable, CaseIterable {
        case creditsNotEnabled = "credits_not_enabled"
        case noRate = "no_rate"
        case blocked
        case insufficientCredits = "insufficient_credits"
    }

    public var customerID: String
    public var callID: String
    /// 1, 2, 3 ... per call: the decision's place among the call's decisions.
    public var sequence: Int64
    public var kind: Kind
    public var reason: Reason?
    /// Seconds of call the platform may run from its start; absent: no limit (or none granted).
    public var grantedSeconds: Int64?
    public var usedSeconds: Int64
    /// This call's hold after the decision.
    public var held: CreditAmount
    /// The customer's available credits (balance - held) after the decision.
    public var available: CreditAmount
    /// When the hold expires without further call events or usage (live calls only).
    public var expiresAt: Timestamp?
    public var occurredAt: Timestamp

    public init(
        customerID: String, callID: String, sequence: Int64, kind: Kind, reason: Reason? = nil,
        grantedSeconds: Int64? = nil, usedSeconds: Int64 = 0, held: CreditAmount = .zero,
        available: CreditAmount, expiresAt: Timestamp? = nil, occurredAt: Timestamp
    ) {
        self.customerID = customerID
        self.callID = callID
        self.sequence = sequence
        self.kind = kind
        self.reason = reason
        self.grantedSeconds = grantedSeconds
        self.usedSeconds = usedSeconds
        self.held = held
        self.available = available
        self.expiresAt = expiresAt
        self.occurredAt = occurredAt
    }

    /// customer/call/sequence: deterministic, so a decision published again has the same id.
    public var eventID: String { "\(customerID)/\(callID)/\(sequence)" }
}
