/// A customer's grants with credits left, in draw-down order (`Grant.drawsBefore`).
///
/// Invariant (kept by `LedgerTransition`): the balance = the sum of `remaining` - the debt, where
/// the debt is what entries drew beyond every grant, so that a negative balance means no grant
/// has anything left, and the next grant pays the debt first.
public struct GrantBook: Sendable, Equatable {
    /// Grants with remaining > 0, first to draw from first.
    public private(set) var active: [Grant]

    public init(active: [Grant] = []) {
        self.active = active.filter { $0.remaining.micros > 0 }.sorted(by: Grant.drawsBefore)
    }

    /// The grants as the stores keep them: every row's remaining is exact but the first's (in
    /// draw-down order), which draws change batch after batch; it is whatever the balance leaves,
    /// max(balance, 0) - the others' remaining, so a usage event that draws on it writes no row.
    /// (Stored rows that do not add up leave the first outside 1...amount: `verify` reports it.)
    public init(stored: [Grant], balance: CreditAmount) {
        active = stored.sorted(by: Grant.drawsBefore)  // as stored: a bad row stays visible to `verify`
        guard !active.isEmpty else { return }
        let rest = active.dropFirst().reduce(Int64(0)) { $0 + $1.remaining.micros }
        active[0].remaining = CreditAmount(micros: max(balance.micros, 0) - rest)
    }

    /// The sum of the remaining credits.
    public var remaining: CreditAmount { CreditAmount(micros: active.reduce(0) { $0 + $1.remaining.micros }) }

    /// The first grant with credits left to expire, and how many; nil when none will.
    public var nextExpiry: NextExpiry? {
        guard let first = active.first, let at = first.expiresAt else { return nil }
        return NextExpiry(at: at, amount: first.remaining)
    }

    /// Adds a grant in its place in the draw-down order (nothing when it has nothing left);
    /// returns the grant that was first until then when the new one goes before it (the stores
    /// must then write its remaining: see `init(stored:balance:)`).
    @discardableResult
    mutating func add(_ grant: Grant) -> Grant? {
        guard grant.remaining.micros > 0 else { return nil }
        var low = 0
        var high = active.count
        while low < high {
            let middle = (low + high) / 2
            if Grant.drawsBefore(active[middle], grant) { low = middle + 1 } else { high = middle }
        }
        active.insert(grant, at: low)
        return low == 0 && active.count > 1 ? active[1] : nil
    }

    /// Draws `micros` (> 0) from the grants in order, appends each grant drawn from, as it is
    /// afterwards, to `changes`, and returns what no grant covered (the new debt).
    @discardableResult
    mutating func draw(_ micros: Int64, recordingIn changes: inout [GrantChange]) -> Int64 {
        var left = micros
        var exhausted = 0
        for index in active.indices {
            guard left > 0 else { break }
            let take = min(left, active[index].remaining.micros)
            active[index].remaining = CreditAmount(micros: active[index].remaining.micros - take)
            left -= take
            changes.append(GrantChange(grant: active[index], isNew: false))
            if active[index].remaining.micros == 0 { exhausted += 1 }
        }
        active.removeFirst(exhausted)
        return left
    }

    /// Removes and returns the grants whose `expires_at` is at or before `now`, in draw-down
    /// order (they are the first ones).
    mutating func removeExpired(at now: Timestamp) -> [Grant] {
        let count = active.prefix { grant in grant.expiresAt.map { $0 <= now } ?? false }.count
        guard count > 0 else { return [] }
        let expired = Array(active.prefix(count))
        active.removeFirst(count)
        return expired
    }
}
