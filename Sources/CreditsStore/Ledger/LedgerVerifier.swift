import CreditsCore

/// Checks chains of entries as a store reads them (each customer's entries in id order, customers
/// interleaved in any way): every balance is the previous plus the amount, ids run 1, 2, 3 …
/// without gaps, and each customer's stored balance and last id match its entries.
public struct LedgerVerifier {
    private struct Running {
        var nextID: Int64 = 1
        var sum: Int64 = 0
    }

    private var running: [String: Running] = [:]
    private var report = VerificationReport()

    public init() {}

    /// One entry, in the customer's id order.
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
