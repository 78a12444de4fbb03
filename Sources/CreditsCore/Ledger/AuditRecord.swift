/// What one applied admin command changed on a customer's account, for the audit trail
/// (`GET /v1/customers/{id}/audit`): who, which command, when, and each field from what to what.
public struct AuditRecord: Sendable, Equatable {
    /// One field that changed; nil means "not set".
    public struct Change: Sendable, Equatable {
        public var field: String
        public var from: String?
        public var to: String?

        public init(field: String, from: String?, to: String?) {
            self.field = field
            self.from = from
            self.to = to
        }

        /// `{field, from, to}` (null for "not set").
        public var json: JSONObjectWriter {
            var w = JSONObjectWriter()
            w.string("field", field)
            if let from { w.string("from", from) } else { w.null("from") }
            if let to { w.string("to", to) } else { w.null("to") }
            return w
        }
    }

    public var customerID: String
    public var commandID: String
    public var actor: String
    /// The command's contract `type` (`configure`, `add_credits`, …).
    public var type: String
    public var issuedAt: Timestamp
    public var recordedAt: Timestamp
    public var changes: [Change]

    public init(
        customerID: String, commandID: String, actor: String, type: String, issuedAt: Timestamp,
        recordedAt: Timestamp, changes: [Change]
    ) {
        self.customerID = customerID
        self.commandID = commandID
        self.actor = actor
        self.type = type
        self.issuedAt = issuedAt
        self.recordedAt = recordedAt
        self.changes = changes
    }

    /// The record of `command` taking `before` to `after`; nil when nothing an operator sets or
    /// sees changed.
    static func of(_ command: AdminCommand, from before: CustomerAccount, to after: CustomerAccount, at now: Timestamp)
        -> AuditRecord?
    {
        var changes: [Change] = []
        func note(_ field: String, _ old: String?, _ new: String?) {
            if old != new { changes.append(Change(field: field, from: old, to: new)) }
        }
        note("credits_enabled", "\(before.creditsEnabled)", "\(after.creditsEnabled)")
        let (old, new) = (before.settings, after.settings)
        note("price_per_minute", old.pricePerMinute?.description, new.pricePerMinute?.description)
        note("grace_period_seconds", "\(old.gracePeriodSeconds)", "\(new.gracePeriodSeconds)")
        note("low_credit_threshold", old.lowCreditThreshold?.description, new.lowCreditThreshold?.description)
        note("low_credit_alerts", "\(old.lowCreditAlerts)", "\(new.lowCreditAlerts)")
        note("tool_call_price", old.toolCallPrice.description, new.toolCallPrice.description)
        note("credits_per_usd", old.creditsPerUSD?.description, new.creditsPerUSD?.description)
        note("call_hold_seconds", "\(old.callHoldSeconds)", "\(new.callHoldSeconds)")
        note("call_hold_rate", old.callHoldRate?.description, new.callHoldRate?.description)
        note("auto_top_up_below", old.autoTopUpBelow?.description, new.autoTopUpBelow?.description)
        note("auto_top_up_package", old.autoTopUpPackage, new.autoTopUpPackage)
        note("balance", before.balance.description, after.balance.description)
        note("state", before.blockState.name, after.blockState.name)
        guard !changes.isEmpty else { return nil }
        return AuditRecord(
            customerID: command.customerID, commandID: command.commandID, actor: command.actor, type: command.action.type,
            issuedAt: command.issuedAt, recordedAt: now, changes: changes)
    }

    /// The changes as a JSON array (how the stores keep them, and how the API shows them).
    public var changesJSON: String { "[" + changes.map { $0.json.finished() }.joined(separator: ",") + "]" }

    /// Changes from their stored JSON array; an unreadable element is skipped.
    public static func changes(fromJSON text: String) -> [Change] {
        guard case .array(let items)? = try? JSONParser.parse(Array(text.utf8)) else { return [] }
        return items.compactMap { item in
            guard case .object(let fields) = item, case .string(let field)? = fields["field"] else { return nil }
            func text(_ name: String) -> String? { if case .string(let value)? = fields[name] { value } else { nil } }
            return Change(field: field, from: text("from"), to: text("to"))
        }
    }
}

extension AdminCommand.Action {
    /// The contract's `type` of this action.
    public var type: String {
        switch self {
        case .enableCredits: "enable_credits"
        case .disableCredits: "disable_credits"
        case .configure: "configure"
        case .addCredits: "add_credits"
        case .quickBuy: "quick_buy"
        case .deductCredits: "deduct_credits"
        }
    }
}
