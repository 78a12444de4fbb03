/// A customer's used credits per clock hour (by `occurred_at`) over the trailing 24 hours: what
/// the burn rate and the projected depletion are computed from, kept with the account and
/// updated with every `used` entry (no history scan).
///
/// The window is the current clock hour and the 23 before it; usage stamped earlier is not
/// counted, usage stamped later than now counts in its own hour until it leaves the window.
public struct UsageWindow: Sendable, Equatable {
    /// One clock hour: its number since the epoch (`ms / 3 600 000`) and the micro-credits used.
    public struct Hour: Sendable, Equatable {
        public var hour: Int64
        public var micros: Int64
    }

    public static let windowHours: Int64 = 24
    static let hourMilliseconds: Int64 = 3_600_000

    /// Oldest first; only hours inside the window as of the last change.
    public private(set) var hours: [Hour] = []

    public init() {}

    /// `micros` used at `occurredAt`, seen at `now`.
    mutating func add(_ micros: Int64, at occurredAt: Timestamp, now: Timestamp) {
        let hour = Self.hour(of: occurredAt)
        prune(now: now)
        guard micros > 0, hour > Self.hour(of: now) - Self.windowHours else { return }
        if let index = hours.firstIndex(where: { $0.hour == hour }) {
            hours[index].micros =
                hours[index].micros.addingReportingOverflow(micros).overflow
                ? .max : hours[index].micros + micros
        } else {
            hours.append(Hour(hour: hour, micros: micros))
            hours.sort { $0.hour < $1.hour }
        }
    }

    /// Forgets the hours that have left the window at `now`.
    mutating func prune(now: Timestamp) {
        let first = Self.hour(of: now) - Self.windowHours + 1
        hours.removeAll { $0.hour < first }
    }

    /// Credits used per hour on average over the window at `now` (the sum over 24 hours,
    /// divided by 24, rounded down to the micro-credit).
    public func burnRatePerHour(at now: Timestamp) -> CreditAmount {
        let first = Self.hour(of: now) - Self.windowHours + 1
        let total = hours.filter { $0.hour >= first }.reduce(Int128(0)) { $0 + Int128($1.micros) }
        return CreditAmount(micros: Int64(total / Int128(Self.windowHours)))
    }

    static func hour(of time: Timestamp) -> Int64 {
        let milliseconds = time.millisecondsSinceEpoch
        return milliseconds >= 0 ? milliseconds / hourMilliseconds : (milliseconds - hourMilliseconds + 1) / hourMilliseconds
    }

    // MARK: Stored form

    /// `hour:micros` pairs separated by `,` (what the stores keep with the account).
    public var encoded: String { hours.map { "\($0.hour):\($0.micros)" }.joined(separator: ",") }

    /// The window from its stored form; an unreadable pair is skipped (the window only feeds
    /// projections, never balances).
    public init(encoded: String?) {
        guard let encoded, !encoded.isEmpty else { return }
        hours = encoded.split(separator: ",").compactMap { pair in
            let parts = pair.split(separator: ":")
            guard parts.count == 2, let hour = Int64(parts[0]), let micros = Int64(parts[1]) else { return nil }
            return Hour(hour: hour, micros: micros)
        }.sorted { $0.hour < $1.hour }
    }
}

/// What the call platform and the notification service read about an account's near future.
public struct AccountProjection: Sendable, Equatable {
    /// Whole minutes of calls the balance pays at the customer's price: 0 when the balance is
    /// <= 0; nil without a price.
    public var minutesLeft: Int64?
    public var burnRatePerHour: CreditAmount
    /// now + balance / burn rate; nil when the burn rate is 0, the balance <= 0, or the date
    /// would be past year 9999.
    public var projectedDepletionAt: Timestamp?

    public init(_ account: CustomerAccount, at now: Timestamp) {
        let balance = account.balance.micros
        if let price = account.settings.pricePerMinute, price.micros > 0 {
            minutesLeft = balance > 0 ? balance / price.micros : 0
        }
        burnRatePerHour = account.usage.burnRatePerHour(at: now)
        let rate = burnRatePerHour.micros
        if rate > 0, balance > 0 {
            let milliseconds = Int128(balance) * Int128(UsageWindow.hourMilliseconds) / Int128(rate)
            let at = Int128(now.millisecondsSinceEpoch) + milliseconds
            if at <= Int128(Self.latestMilliseconds) { projectedDepletionAt = Timestamp(millisecondsSinceEpoch: Int64(at)) }
        }
    }

    /// 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can write.
    static let latestMilliseconds: Int64 = 253_402_300_799_999
}
