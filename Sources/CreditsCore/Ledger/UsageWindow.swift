/// A customer's used credits by `occurred_at`: per clock hour over the trailing 24 hours (the burn
/// rate and the projected depletion), and per UTC day for the 7 days before (the baseline of the
/// spike check). Kept with the account and updated with every `used` entry (no history scan).
///
/// The hourly window is the current clock hour and the 23 before it. An hour that leaves it is
/// folded into its day; days older than 8 days are forgotten. Usage stamped more than
/// `allowedClockSkewMilliseconds` after now (a wrong clock, or a hostile producer) is charged as
/// usual but left out of the window: it would count in projections and the spike check until its
/// date, and every distinct future hour would add a bucket kept with the account. So the window
/// holds at most 25 hours and 9 days.
public struct UsageWindow: Sendable, Equatable {
    /// One clock hour (or one day): its number since the epoch and the micro-credits used.
    public struct Hour: Sendable, Equatable {
        public var hour: Int64
        public var micros: Int64
    }

    public static let windowHours: Int64 = 24
    /// Hours of history the spike baseline averages over.
    public static let baselineHours: Int64 = 168
    static let hourMilliseconds: Int64 = 3_600_000
    /// How far after now an `occurred_at` may be and still count: clocks of the call platform and
    /// of this service may disagree by this much.
    public static let allowedClockSkewMilliseconds: Int64 = 300_000

    /// Oldest first; only hours inside the window as of the last change.
    public private(set) var hours: [Hour] = []
    /// Days before the hourly window (day number = hour / 24), oldest first.
    public private(set) var days: [Hour] = []
    /// The hour of the last usage spike reported (at most one per hour).
    public internal(set) var lastSpikeHour: Int64?

    public init() {}

    /// `micros` used at `occurredAt`, seen at `now`.
    mutating func add(_ micros: Int64, at occurredAt: Timestamp, now: Timestamp) {
        let hour = Self.hour(of: occurredAt)
        prune(now: now)
        guard micros > 0, Self.countsAt(occurredAt, now: now) else { return }
        if hour > Self.hour(of: now) - Self.windowHours {
            Self.add(micros, to: hour, in: &hours)
        } else if hour >= Self.oldestDay(now: now) * 24 {
            Self.add(micros, to: Self.day(of: hour), in: &days)
        }
    }

    /// Whether usage stamped `occurredAt` counts in the window at `now` (not beyond the skew).
    static func countsAt(_ occurredAt: Timestamp, now: Timestamp) -> Bool {
        occurredAt.millisecondsSinceEpoch
            <= now.millisecondsSinceEpoch.addingReportingOverflow(allowedClockSkewMilliseconds).partialValue
    }

    private static func add(_ micros: Int64, to key: Int64, in buckets: inout [Hour]) {
        if let index = buckets.firstIndex(where: { $0.hour == key }) {
            buckets[index].micros =
                buckets[index].micros.addingReportingOverflow(micros).overflow ? .max : buckets[index].micros + micros
        } else {
            buckets.append(Hour(hour: key, micros: micros))
            buckets.sort { $0.hour < $1.hour }
        }
    }

    /// Folds the hours that have left the window at `now` into their days; forgets old days.
    /// (Runs with every used entry: no work, no allocation, when nothing has left.)
    mutating func prune(now: Timestamp) {
        let first = Self.hour(of: now) - Self.windowHours + 1
        if let oldest = hours.first, oldest.hour < first {
            for old in hours where old.hour < first { Self.add(old.micros, to: Self.day(of: old.hour), in: &days) }
            hours.removeAll { $0.hour < first }
        }
        let oldestDay = Self.oldestDay(now: now)
        if let oldest = days.first, oldest.hour < oldestDay { days.removeAll { $0.hour < oldestDay } }
    }

    /// Credits used per hour on average over the window at `now` (the sum over 24 hours,
    /// divided by 24, rounded down to the micro-credit).
    public func burnRatePerHour(at now: Timestamp) -> CreditAmount {
        let current = Self.hour(of: now)
        let first = current - Self.windowHours + 1
        var total = Int128(0)
        // Hours after the current one (within the skew, or stored before it was enforced) wait.
        for bucket in hours where bucket.hour >= first && bucket.hour <= current { total += Int128(bucket.micros) }
        return CreditAmount(micros: Int64(total / Int128(Self.windowHours)))
    }

    /// Micro-credits used in clock hour `hour` (when it is still in the hourly window).
    func used(inHour hour: Int64) -> Int64 {
        for bucket in hours where bucket.hour == hour { return bucket.micros }
        return 0
    }

    /// Micro-credits used in the 168 hours before `hour`: the hourly window's earlier hours, and
    /// the days that overlap the rest (so at day granularity beyond the last 24 hours).
    func usedBefore(hour: Int64) -> Int128 {
        let start = hour - Self.baselineHours
        var total = Int128(0)
        for bucket in hours where bucket.hour < hour && bucket.hour >= start { total += Int128(bucket.micros) }
        for bucket in days where bucket.hour * 24 + 23 >= start && bucket.hour * 24 < hour { total += Int128(bucket.micros) }
        return total
    }

    static func hour(of time: Timestamp) -> Int64 {
        let milliseconds = time.millisecondsSinceEpoch
        return milliseconds >= 0 ? milliseconds / hourMilliseconds : (milliseconds - hourMilliseconds + 1) / hourMilliseconds
    }

    static func day(of hour: Int64) -> Int64 { hour >= 0 ? hour / 24 : (hour - 23) / 24 }

    /// The oldest day kept: the baseline of the oldest hour still in the window reaches back that far.
    static func oldestDay(now: Timestamp) -> Int64 { day(of: hour(of: now) - windowHours - baselineHours) }

    // MARK: Stored form

    /// `hour:micros,…` then `|day:micros,…` then `|lastSpikeHour` (what the stores keep with the
    /// account; the first part alone is the older form).
    /// (Written with every batch that changes the customer: bytes directly, no string per bucket.)
    public var encoded: String {
        // A bucket is at most two 20-character integers, a colon and a comma.
        let capacity = 42 * (hours.count + days.count) + 24
        return String(unsafeUninitializedCapacity: capacity) { buffer in
            var cursor = ByteCursor(buffer.baseAddress!)
            func append(_ buckets: [Hour]) {
                for (index, bucket) in buckets.enumerated() {
                    if index > 0 { cursor.append(UInt8(ascii: ",")) }
                    cursor.appendDecimal(bucket.hour)
                    cursor.append(UInt8(ascii: ":"))
                    cursor.appendDecimal(bucket.micros)
                }
            }
            append(hours)
            if !days.isEmpty || lastSpikeHour != nil {
                cursor.append(UInt8(ascii: "|"))
                append(days)
                cursor.append(UInt8(ascii: "|"))
                if let lastSpikeHour { cursor.appendDecimal(lastSpikeHour) }
            }
            return cursor.count
        }
    }

    /// The window from its stored form; an unreadable pair is skipped (the window only feeds
    /// projections and the spike check, never balances).
    public init(encoded: String?) {
        guard let encoded, !encoded.isEmpty else { return }
        let parts = encoded.split(separator: "|", omittingEmptySubsequences: false)
        func buckets(_ text: Substring) -> [Hour] {
            text.split(separator: ",").compactMap { pair in
                let fields = pair.split(separator: ":")
                guard fields.count == 2, let key = Int64(fields[0]), let micros = Int64(fields[1]) else { return nil }
                return Hour(hour: key, micros: micros)
            }.sorted { $0.hour < $1.hour }
        }
        hours = buckets(parts[0])
        if parts.count > 1 { days = buckets(parts[1]) }
        if parts.count > 2 { lastSpikeHour = Int64(parts[2]) }
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
