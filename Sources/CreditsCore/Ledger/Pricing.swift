/// The contract's charge rules. Each part is rounded up to 0.000001 credit.
public enum Pricing {
    /// What a usage event costs, part by part.
    public struct Charge: Sendable, Equatable {
        public var call: CreditAmount
        public var ai: CreditAmount
        public var toolCalls: CreditAmount
        /// Set when `price_per_minute` is not configured and the call part is therefore 0.
        public var warnings: [String]

        public init(call: CreditAmount, ai: CreditAmount, toolCalls: CreditAmount, warnings: [String] = []) {
            self.call = call
            self.ai = ai
            self.toolCalls = toolCalls
            self.warnings = warnings
        }

        public var total: CreditAmount { CreditAmount(micros: call.micros + ai.micros + toolCalls.micros) }
    }

    public static let pricePerMinuteNotConfigured = "price_per_minute_not_configured"
    /// Largest charge one usage event may make: 1e12 credits, like any input amount.
    static let chargeLimit = Int128(CreditAmount.inputLimit.micros)

    /// The charge of `usage` under `settings`, or nil when it is beyond 1e12 credits.
    public static func charge(
        for usage: UsageEvent, settings: CustomerSettings,
        defaultCreditsPerUSD: CreditAmount
    ) -> Charge? {
        var warnings: [String] = []
        var call: Int128 = 0
        if let seconds = usage.callSeconds {
            if let price = settings.pricePerMinute {
                // seconds × micro-credits per minute / 60, rounded up.
                call = divideRoundingUp(Int128(seconds) * Int128(price.micros), by: 60)
            } else {
                warnings.append(pricePerMinuteNotConfigured)
            }
        }
        var ai: Int128 = 0
        if let costs = usage.aiCosts {
            // nano-USD × micro-credits per USD / 1e9 = micro-credits, rounded up.
            let perUSD = Int128((settings.creditsPerUSD ?? defaultCreditsPerUSD).micros)
            let (product, overflow) = costs.totalNanos.multipliedReportingOverflow(by: perUSD)
            guard !overflow else { return nil }
            ai = divideRoundingUp(product, by: 1_000_000_000)
        }
        let tools = Int128(usage.toolCalls ?? 0) * Int128(settings.toolCallPrice.micros)
        guard call + ai + tools <= chargeLimit else { return nil }
        return Charge(
            call: CreditAmount(micros: Int64(call)), ai: CreditAmount(micros: Int64(ai)),
            toolCalls: CreditAmount(micros: Int64(tools)), warnings: warnings)
    }

    /// `value / divisor` rounded towards +infinity, for non-negative values.
    static func divideRoundingUp(_ value: Int128, by divisor: Int128) -> Int128 {
        let (quotient, remainder) = value.quotientAndRemainder(dividingBy: divisor)
        return remainder > 0 ? quotient + 1 : quotient
    }
}
