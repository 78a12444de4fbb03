/// The reason codes of the contract, for rejected commands and dead-lettered messages.
public enum ReasonCode: String, Sendable, Equatable, CaseIterable {
    /// The payload is not a JSON object.
    case invalidJSON = "invalid_json"
    /// A usage event failed validation (the message names the field).
    case invalidUsage = "invalid_usage"
    /// A command failed validation (the message names the field).
    case invalidCommand = "invalid_command"
    /// The message key differs from the value's `customer_id`.
    case keyMismatch = "key_mismatch"
    /// The payload is over 64 KiB.
    case tooLarge = "too_large"
    /// A repeated `event_id` or `command_id` with other fields.
    case conflictingDuplicate = "conflicting_duplicate"
    /// The charge or the resulting balance does not fit the ledger's range.
    case amountOutOfRange = "amount_out_of_range"
    /// add, quick_buy or deduct while AI credits are disabled.
    case creditsNotEnabled = "credits_not_enabled"
    /// A deduct beyond the balance without `allow_negative`.
    case insufficientBalance = "insufficient_balance"
    /// A quick_buy naming a package the service does not sell.
    case unknownPackage = "unknown_package"
    /// A command without a valid signature while signatures are required.
    case unauthorized = "unauthorized"
}

/// Why an input cannot be applied: a contract reason code and a message for people.
public struct InputError: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: ReasonCode
    public let message: String

    /// Longest message kept, in Unicode scalars: a message that quotes an input stays small.
    public static let maximumMessageLength = 1_000

    public init(_ code: ReasonCode, _ message: String) {
        self.code = code
        self.message = message.boundedForOutput(Self.maximumMessageLength)
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

extension String {
    /// At most `limit` Unicode scalars of the text, with " …" when it was cut.
    public func boundedForOutput(_ limit: Int) -> String {
        guard unicodeScalars.count > limit else { return self }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: unicodeScalars.prefix(limit))
        return String(view) + " …"
    }
}
