/// An admin command from the dashboard (`credits.commands`).
public struct AdminCommand: Sendable, Equatable {
    /// What a deduction is for.
    public enum DeductReason: String, Sendable, Equatable, CaseIterable {
        case refund, correction, manual
    }

    /// What a Quick Buy sells: a configured package or an explicit amount.
    public enum QuickBuySelection: Sendable, Equatable {
        case package(String)
        case amount(CreditAmount)
    }

    /// The command's effect, one case per contract `type`.
    public enum Action: Sendable, Equatable {
        case enableCredits(SettingsChange?)
        case disableCredits
        case configure(SettingsChange)
        /// `expiresAt`: when the credits expire (version 3); nil: never.
        case addCredits(amount: CreditAmount, note: String, expiresAt: Timestamp? = nil)
        /// `expiresAt`: when the credits expire; nil: the package's validity, if any.
        case quickBuy(QuickBuySelection, paymentRef: String, expiresAt: Timestamp? = nil)
        case deductCredits(amount: CreditAmount, reason: DeductReason, note: String, allowNegative: Bool)
    }

    public var commandID: String
    public var customerID: String
    public var issuedAt: Timestamp
    public var actor: String
    public var action: Action

    public init(commandID: String, customerID: String, issuedAt: Timestamp, actor: String, action: Action) {
        self.commandID = commandID
        self.customerID = customerID
        self.issuedAt = issuedAt
        self.actor = actor
        self.action = action
    }

    /// The `command_id` and `customer_id` of a payload, when both can be read, so that even an
    /// invalid command gets its `rejected` result.
    public static func identity(of fields: [String: JSONValue]) -> (commandID: String, customerID: String)? {
        guard case .string(let commandID) = fields["command_id"], (1...200).contains(commandID.count),
            case .string(let customerID) = fields["customer_id"], Identifier.isValidCustomerID(customerID)
        else { return nil }
        return (commandID, customerID)
    }

    /// Validates a decoded JSON object against the contract.
    public init(json fields: [String: JSONValue]) throws(InputError) {
        let reader = FieldReader(fields, code: .invalidCommand)
        commandID = try reader.string("command_id", length: 1...200)
        customerID = try reader.string("customer_id", length: 1...128)
        guard Identifier.isValidCustomerID(customerID) else {
            throw reader.fail("customer_id", "must be 1-128 characters of [A-Za-z0-9._:@-]")
        }
        issuedAt = try reader.timestamp("issued_at")
        actor = try reader.string("actor", length: 1...200)
        let type = try reader.string("type", length: 1...64)
        switch type {
        case "enable_credits":
            if let settings = try reader.optionalObject("settings") {
                action = .enableCredits(try SettingsChange(reader: settings, requireOne: false))
            } else {
                action = .enableCredits(nil)
            }
        case "disable_credits":
            action = .disableCredits
        case "configure":
            action = .configure(try SettingsChange(reader: reader, requireOne: true))
        case "add_credits":
            action = .addCredits(
                amount: try reader.credits("amount", positive: true),
                note: try reader.string("note", length: 1...500), expiresAt: try reader.optionalTimestamp("expires_at"))
        case "quick_buy":
            let paymentRef = try reader.string("payment_ref", length: 1...200)
            let expiresAt = try reader.optionalTimestamp("expires_at")
            switch (reader.has("package"), reader.has("amount")) {
            case (true, true):
                throw reader.fail("package", "give either package or amount, not both")
            case (true, false):
                let name: String
                switch fields["package"] {
                case .string(let text): name = text
                case .number(let text): name = text
                default: throw reader.fail("package", "must be a package name")
                }
                action = .quickBuy(.package(name), paymentRef: paymentRef, expiresAt: expiresAt)
            case (false, true):
                action = .quickBuy(
                    .amount(try reader.credits("amount", positive: true)), paymentRef: paymentRef, expiresAt: expiresAt)
            case (false, false):
                throw reader.fail("package", "is required (or give amount)")
            }
        case "deduct_credits":
            let amount = try reader.credits("amount", positive: true)
            let reasonText = try reader.string("reason", length: 1...32)
            guard let reason = DeductReason(rawValue: reasonText) else {
                throw reader.fail("reason", "must be one of refund, correction, manual")
            }
            action = .deductCredits(
                amount: amount, reason: reason, note: try reader.string("note", length: 1...500),
                allowNegative: try reader.optionalBool("allow_negative") ?? false)
        default:
            throw reader.fail(
                "type",
                "unknown command type \"\(type)\"; expected enable_credits, disable_credits, "
                    + "configure, add_credits, quick_buy or deduct_credits")
        }
    }
}
