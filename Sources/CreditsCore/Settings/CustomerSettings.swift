/// A customer's credit settings, with the contract's defaults.
public struct CustomerSettings: Sendable, Equatable {
    /// Credits per minute of call; nil means not configured (calls then cost 0 with a warning).
    public var pricePerMinute: CreditAmount?
    /// Seconds between running out (`depleted`) and `blocked`; 0-604800.
    public var gracePeriodSeconds: Int64
    /// Low-credit alert threshold; nil means none.
    public var lowCreditThreshold: CreditAmount?
    public var lowCreditAlerts: Bool
    public var toolCallPrice: CreditAmount
    /// nil means the service's configured `credits_per_usd`.
    public var creditsPerUSD: CreditAmount?
    /// The seconds of a call one hold covers (30-86400).
    public var callHoldSeconds: Int64
    /// Credits per minute holds are sized with; nil means `price_per_minute`.
    public var callHoldRate: CreditAmount?
    /// An automatic top-up is requested when an entry leaves the balance at or below this; nil: off.
    public var autoTopUpBelow: CreditAmount?
    /// The Quick Buy package an automatic top-up buys (set whenever `autoTopUpBelow` is).
    public var autoTopUpPackage: String?

    public static let defaultGracePeriodSeconds: Int64 = 300
    public static let defaultToolCallPrice = CreditAmount(micros: 30_000)
    public static let defaultCallHoldSeconds: Int64 = 300
    public static let callHoldSecondsRange: ClosedRange<Int64> = 30...86_400

    public init(
        pricePerMinute: CreditAmount? = nil, gracePeriodSeconds: Int64 = defaultGracePeriodSeconds,
        lowCreditThreshold: CreditAmount? = nil, lowCreditAlerts: Bool = false,
        toolCallPrice: CreditAmount = defaultToolCallPrice, creditsPerUSD: CreditAmount? = nil,
        callHoldSeconds: Int64 = defaultCallHoldSeconds, callHoldRate: CreditAmount? = nil,
        autoTopUpBelow: CreditAmount? = nil, autoTopUpPackage: String? = nil
    ) {
        self.autoTopUpBelow = autoTopUpBelow
        self.autoTopUpPackage = autoTopUpPackage
        self.pricePerMinute = pricePerMinute
        self.gracePeriodSeconds = gracePeriodSeconds
        self.lowCreditThreshold = lowCreditThreshold
        self.lowCreditAlerts = lowCreditAlerts
        self.toolCallPrice = toolCallPrice
        self.creditsPerUSD = creditsPerUSD
        self.callHoldSeconds = callHoldSeconds
        self.callHoldRate = callHoldRate
    }

    /// Applies the fields a command sets.
    public mutating func apply(_ change: SettingsChange) {
        if let value = change.pricePerMinute { pricePerMinute = value }
        if let value = change.gracePeriodSeconds { gracePeriodSeconds = value }
        if let value = change.lowCreditThreshold { lowCreditThreshold = value }
        if let value = change.lowCreditAlerts { lowCreditAlerts = value }
        if let value = change.toolCallPrice { toolCallPrice = value }
        if let value = change.creditsPerUSD { creditsPerUSD = value }
        if let value = change.callHoldSeconds { callHoldSeconds = value }
        if let value = change.callHoldRate { callHoldRate = value }
        if let value = change.autoTopUpBelow { autoTopUpBelow = value }
        if let value = change.autoTopUpPackage { autoTopUpPackage = value }
    }
}

/// The settings a `configure` (or `enable_credits`) command changes. For the two settings that
/// can be unset, `.some(nil)` (JSON `null`) clears them.
public struct SettingsChange: Sendable, Equatable {
    public var pricePerMinute: CreditAmount??
    public var gracePeriodSeconds: Int64?
    public var lowCreditThreshold: CreditAmount??
    public var lowCreditAlerts: Bool?
    public var toolCallPrice: CreditAmount?
    public var creditsPerUSD: CreditAmount?
    public var callHoldSeconds: Int64?
    /// `.some(nil)` (JSON `null`) clears it (holds then use `price_per_minute`).
    public var callHoldRate: CreditAmount??
    /// `.some(nil)` (JSON `null`) turns automatic top-up off.
    public var autoTopUpBelow: CreditAmount??
    public var autoTopUpPackage: String??

    public init(
        pricePerMinute: CreditAmount?? = nil, gracePeriodSeconds: Int64? = nil,
        lowCreditThreshold: CreditAmount?? = nil, lowCreditAlerts: Bool? = nil,
        toolCallPrice: CreditAmount? = nil, creditsPerUSD: CreditAmount? = nil,
        callHoldSeconds: Int64? = nil, callHoldRate: CreditAmount?? = nil,
        autoTopUpBelow: CreditAmount?? = nil, autoTopUpPackage: String?? = nil
    ) {
        self.autoTopUpBelow = autoTopUpBelow
        self.autoTopUpPackage = autoTopUpPackage
        self.callHoldSeconds = callHoldSeconds
        self.callHoldRate = callHoldRate
        self.pricePerMinute = pricePerMinute
        self.gracePeriodSeconds = gracePeriodSeconds
        self.lowCreditThreshold = lowCreditThreshold
        self.lowCreditAlerts = lowCreditAlerts
        self.toolCallPrice = toolCallPrice
        self.creditsPerUSD = creditsPerUSD
    }

    static let fieldNames = [
        "price_per_minute", "grace_period_seconds", "low_credit_threshold",
        "low_credit_alerts", "tool_call_price", "credits_per_usd", "call_hold_seconds", "call_hold_rate",
        "auto_top_up_below", "auto_top_up_package",
    ]

    /// Reads the settings fields of `reader`; `requireOne` demands at least one.
    init(reader: FieldReader, requireOne: Bool) throws(InputError) {
        if reader.fields["price_per_minute"] == .null {
            pricePerMinute = .some(nil)
        } else if let price = try reader.optionalCredits("price_per_minute", nonNegative: true) {
            pricePerMinute = .some(price)
        }
        gracePeriodSeconds = try reader.optionalInteger("grace_period_seconds", range: 0...604_800)
        if reader.fields["low_credit_threshold"] == .null {
            lowCreditThreshold = .some(nil)
        } else if let threshold = try reader.optionalCredits("low_credit_threshold", nonNegative: true) {
            lowCreditThreshold = .some(threshold)
        }
        lowCreditAlerts = try reader.optionalBool("low_credit_alerts")
        toolCallPrice = try reader.optionalCredits("tool_call_price", nonNegative: true)
        creditsPerUSD = try reader.optionalCredits("credits_per_usd", nonNegative: true)
        callHoldSeconds = try reader.optionalInteger("call_hold_seconds", range: CustomerSettings.callHoldSecondsRange)
        if reader.fields["call_hold_rate"] == .null {
            callHoldRate = .some(nil)
        } else if let rate = try reader.optionalCredits("call_hold_rate", nonNegative: true) {
            callHoldRate = .some(rate)
        }
        if reader.fields["auto_top_up_below"] == .null {
            autoTopUpBelow = .some(nil)
        } else if let below = try reader.optionalCredits("auto_top_up_below", nonNegative: true) {
            autoTopUpBelow = .some(below)
        }
        if reader.fields["auto_top_up_package"] == .null {
            autoTopUpPackage = .some(nil)
        } else if let package = try reader.optionalString("auto_top_up_package", length: 1...200) {
            autoTopUpPackage = .some(package)
        }
        if requireOne && self == SettingsChange() {
            throw InputError(
                .invalidCommand,
                "\(reader.path.isEmpty ? "" : reader.path)configure needs at least one of "
                    + Self.fieldNames.joined(separator: ", "))
        }
    }

    /// Text of the change, for the legacy fingerprints (`LegacyFingerprint.swift`).
    var canonical: String {
        func text(_ value: CreditAmount??) -> String {
            switch value {
            case .none: "-"
            case .some(.none): "null"
            case .some(.some(let amount)): amount.description
            }
        }
        return [
            text(pricePerMinute), gracePeriodSeconds.map { String($0) } ?? "-", text(lowCreditThreshold),
            lowCreditAlerts.map { String($0) } ?? "-", toolCallPrice?.description ?? "-",
            creditsPerUSD?.description ?? "-",
        ].joined(separator: ",")
    }
}
