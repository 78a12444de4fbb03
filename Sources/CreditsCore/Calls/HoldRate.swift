/// The arithmetic of holds at one rate (credits per minute, > 0): how much a number of seconds
/// holds, and how many seconds a hold covers, both exact to the micro-credit.
public struct HoldRate: Sendable, Equatable {
    /// Micro-credits per minute; always > 0.
    public let microsPerMinute: Int64

    /// The rate holds are sized with (`call_hold_rate`, else `price_per_minute`); nil when it
    /// is unset or 0 (calls are then granted without a limit, reason `no_rate`).
    public init?(_ settings: CustomerSettings) {
        guard let rate = settings.callHoldRate ?? settings.pricePerMinute, rate.micros > 0 else { return nil }
        microsPerMinute = rate.micros
    }

    public init?(microsPerMinute: Int64) {
        guard microsPerMinute > 0 else { return nil }
        self.microsPerMinute = microsPerMinute
    }

    /// ceil(rate x seconds / 60), to the micro-credit.
    public func hold(forSeconds seconds: Int64) -> CreditAmount {
        let product = Int128(microsPerMinute) * Int128(seconds)
        let (quotient, remainder) = product.quotientAndRemainder(dividingBy: 60)
        let micros = quotient + (remainder > 0 ? 1 : 0)
        return CreditAmount(micros: Int64(clamping: micros))
    }

    /// floor(hold x 60 / rate): the whole seconds `hold` covers (0 for a hold <= 0).
    public func seconds(coveredBy hold: CreditAmount) -> Int64 {
        guard hold.micros > 0 else { return 0 }
        return Int64(clamping: Int128(hold.micros) * 60 / Int128(microsPerMinute))
    }
}
