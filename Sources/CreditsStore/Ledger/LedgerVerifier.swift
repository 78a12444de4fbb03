import CreditsCore

/// Checks chains of entries as a store reads them (each customer's entries in id order, customers
/// interleaved in any way): every balance is the previous plus the amount, ids run 1, 2, 3 …
/// without gaps, every hash is `EntryHash` of the entry after the previous entry's stored hash
/// (so an entry changed behind the ledger's back is named, and only it), and each customer's
/// stored balance, last id, head hash and grants match its entries.
public struct LedgerVerifier {
    private struct Running {
        var nextID: Int64 = 1
        var sum: Int64 = 0
        var hash = EntryHash.genesis
        var hashMismatches = 0
    }

    private var running: [String: Running] = [:]
    private var report = VerificationReport()

    public init() {}

    /// One entry, in the customer's id order: its balance and its hash.
    public mutating func entry(_ entry: LedgerEntry) {
        let customer = entry.customerID
        let expected = EntryHash.of(entry, previous: running[customer]?.hash ?? EntryHash.genesis)
        self.entry(customer: customer, id: entry.entryID, amount: entry.amount.micros, balance: entry.balance.micros)
        guard var state = running[customer] else { return }
        if entry.hash != expected {
            state.hashMismatches += 1
            report.problems.append(
                "\(customer): entry \(entry.entryID) does not match its hash (stored \(entry.hash == .genesis ? "none" : entry.hash.description), "
                    + "recomputed \(expected)): the entry or its hash was changed after it was made")
        }
        state.hash = entry.hash
        running[customer] = state
    }

    /// The stored head hash of a customer (after all its entries were given).
    public mutating func head(_ customer: String, hash: ChainHash?, lastEntryID: Int64) {
        let newest = running[customer]?.hash ?? EntryHash.genesis
        guard lastEntryID > 0, (hash ?? EntryHash.genesis) != newest else { return }
        report.problems.append(
            "\(customer): head_hash \(hash?.description ?? "none") is not the hash of entry \(lastEntryID) (\(newest))")
    }

    /// A customer's grant rows: together they hold the balance when it is not negative, else
    /// nothing (the debt is paid out of the next grant). The first grant's remaining is what the
    /// balance leaves of the others (`GrantBook.init(stored:balance:)`): it must lie in 1...amount.
    public mutating func grants(_ customer: String, rows: [Grant], balance: Int64) {
        guard let first = GrantBook(stored: rows, balance: CreditAmount(micros: balance)).active.first else {
            if balance > 0 {
                report.problems.append("\(customer): balance \(CreditAmount(micros: balance)) but no grant holds credits")
            }
            return
        }
        let remaining = first.remaining.micros
        guard remaining < 1 || remaining > first.amount.micros else { return }
        report.problems.append(
            "\(customer): its grants do not add up to the balance \(CreditAmount(micros: balance)): the first, entry "
                + "\(first.entryID) of \(first.amount), would hold \(CreditAmount(micros: remaining))")
    }

    /// One entry's balance, in the customer's id order.
    public mutating func entry(customer: String, id: Int64, amount: Int64, balance: Int64) {
        report.entries += 1
        var state = running[customer] ?? Running()
        if id != state.nextID {
            report.problems.append("\(customer): entry \(id) found where \(state.nextID) was expected")
        }
        state.sum = state.sum &+ amount
        if balance != state.sum {
            report.problems.append(
                "\(customer): entry \(id) says balance \(CreditAmount(micros: balance)), "
                    + "the sum of entries is \(CreditAmount(micros: state.sum))")
            state.sum = balance
        }
        state.nextID = id + 1
        running[customer] = state
    }

    /// A customer as stored (after all its entries were given).
    public mutating func customer(_ customer: String, balance: Int64, lastEntryID: Int64) {
        report.customers += 1
        let state = running[customer] ?? Running()
        if state.sum != balance {
            report.problems.append(
                "\(customer): balance \(CreditAmount(micros: balance)) differs from the sum "
                    + "of entries \(CreditAmount(micros: state.sum))")
        }
        if state.nextID - 1 != lastEntryID {
            report.problems.append("\(customer): last entry id \(lastEntryID), entries end at \(state.nextID - 1)")
        }
    }

    public var result: VerificationReport { report }
}

/// Usage summed per time bucket of `occurred_at`.
public struct UsageBuckets {
    private let width: Int64
    private var buckets: [Int64: UsageBucket] = [:]

    public init(bucketMilliseconds: Int64) { width = bucketMilliseconds }

    /// Adds one used entry (its charge as a positive number of micro-credits); false, changing
    /// nothing, when a sum would leave the range of an amount.
    public mutating func add(occurredAt: Int64, charge: Int64, call: Int64, ai: Int64, toolCalls: Int64) -> Bool {
        let start = occurredAt - ((occurredAt % width) + width) % width
        var bucket =
            buckets[start]
            ?? UsageBucket(
                start: Timestamp(millisecondsSinceEpoch: start), events: 0,
                call: .zero, ai: .zero, toolCalls: .zero, total: .zero)
        guard bucket.add(charge: charge, call: call, ai: ai, toolCalls: toolCalls) else { return false }
        buckets[start] = bucket
        return true
    }

    /// The start of the bucket `occurredAt` falls in.
    public func start(of occurredAt: Int64) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: occurredAt - ((occurredAt % width) + width) % width)
    }

    /// Oldest first.
    public var sorted: [UsageBucket] { buckets.values.sorted { $0.start < $1.start } }
}
