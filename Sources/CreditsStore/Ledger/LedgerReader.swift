import CreditsCore

/// Read-only queries over the store for the HTTP API and the CLI. Uses its own connection, so it
/// reads committed data while the writer works (WAL). Not thread-safe: one per task, or guard it.
public final class LedgerReader {
    private let connection: SQLiteConnection

    /// Opens the store at `path` for reading; the file must exist.
    public init(path: String) throws(StoreError) {
        connection = try SQLiteConnection(path: path, readOnly: true)
    }

    /// A customer's state, or nil if the store has never seen it.
    public func account(_ customerID: String) throws(StoreError) -> CustomerAccount? {
        try CustomerRecords(connection: connection).load(customerID)?.account
    }

    /// A page of a customer's entries, newest first, with entry ids below `before` and of `kind`.
    public func entries(_ customerID: String, before: Int64? = nil, limit: Int = 50,
                        kind: LedgerEntry.Kind? = nil) throws(StoreError) -> [LedgerEntry] {
        let statement = try connection.statement("""
            SELECT \(EntryRecords.columns) FROM entries
            WHERE customer_num = (SELECT customer_num FROM customers WHERE customer_id = ?1)
              AND entry_id < ?2 AND (?3 IS NULL OR kind = ?3)
            ORDER BY entry_id DESC LIMIT ?4
            """)
        statement.bind(.text(customerID), .integer(before ?? Int64.max),
                       .integer(kind.map { Int64(EntryRecords.kinds.firstIndex(of: $0)!) }), .integer(Int64(limit)))
        var page: [LedgerEntry] = []
        while try statement.step() { page.append(EntryRecords.entry(from: statement, customerID: customerID)) }
        return page
    }

    /// Consumption per time bucket (used entries only), oldest first.
    public func usage(_ customerID: String, from: Timestamp, to: Timestamp,
                      bucketMilliseconds: Int64) throws(StoreError) -> [UsageBucket] {
        let statement = try connection.statement("""
            SELECT (occurred_at / ?4) * ?4 AS bucket, count(*), sum(call_part), sum(ai_part), sum(tool_part), sum(amount)
            FROM entries
            WHERE customer_num = (SELECT customer_num FROM customers WHERE customer_id = ?1)
              AND kind = 2 AND occurred_at >= ?2 AND occurred_at < ?3
            GROUP BY bucket ORDER BY bucket
            """)
        statement.bind(.text(customerID), .integer(from.millisecondsSinceEpoch), .integer(to.millisecondsSinceEpoch),
                       .integer(bucketMilliseconds))
        var buckets: [UsageBucket] = []
        while try statement.step() {
            buckets.append(UsageBucket(
                start: Timestamp(millisecondsSinceEpoch: statement.int64(0)), events: Int(statement.int64(1)),
                call: CreditAmount(micros: statement.int64(2)), ai: CreditAmount(micros: statement.int64(3)),
                toolCalls: CreditAmount(micros: statement.int64(4)), total: CreditAmount(micros: -statement.int64(5))))
        }
        return buckets
    }

    /// Checks every customer's chain of entries: each balance is the previous plus the amount,
    /// ids run 1, 2, 3 … without gaps, and the stored balance is the sum. Returns the problems.
    public func verify() throws(StoreError) -> VerificationReport {
        var report = VerificationReport()
        let customers = try connection.statement("SELECT customer_num, customer_id, balance, last_entry_id FROM customers")
        var all: [(Int64, String, Int64, Int64)] = []
        while try customers.step() {
            all.append((customers.int64(0), customers.string(1), customers.int64(2), customers.int64(3)))
        }
        let entries = try connection.statement(
            "SELECT entry_id, amount, balance FROM entries WHERE customer_num = ? ORDER BY entry_id")
        for (num, customerID, balance, lastEntryID) in all {
            report.customers += 1
            entries.reset()
            entries.bind(1, num)
            var expectedID: Int64 = 1
            var running: Int64 = 0
            while try entries.step() {
                report.entries += 1
                let (id, amount, after) = (entries.int64(0), entries.int64(1), entries.int64(2))
                if id != expectedID {
                    report.problems.append("\(customerID): entry \(id) found where \(expectedID) was expected")
                }
                running += amount
                if after != running {
                    report.problems.append("\(customerID): entry \(id) says balance \(CreditAmount(micros: after)), "
                                           + "the sum of entries is \(CreditAmount(micros: running))")
                    running = after
                }
                expectedID = id + 1
            }
            if running != balance {
                report.problems.append("\(customerID): balance \(CreditAmount(micros: balance)) differs from the sum "
                                       + "of entries \(CreditAmount(micros: running))")
            }
            if expectedID - 1 != lastEntryID {
                report.problems.append("\(customerID): last entry id \(lastEntryID), entries end at \(expectedID - 1)")
            }
        }
        return report
    }

    /// Customers per block state name (`active`, `grace`, `blocked`), among those with credits enabled.
    public func blockStateCounts() throws(StoreError) -> [String: Int] {
        let statement = try connection.statement(
            "SELECT block_state, count(*) FROM customers WHERE credits_enabled = 1 GROUP BY block_state")
        var counts = ["active": 0, "grace": 0, "blocked": 0]
        while try statement.step() {
            counts[["active", "grace", "blocked"][Int(statement.int64(0))]] = Int(statement.int64(1))
        }
        return counts
    }
}

/// Consumption of one time bucket.
public struct UsageBucket: Sendable, Equatable {
    public var start: Timestamp
    public var events: Int
    public var call: CreditAmount
    public var ai: CreditAmount
    public var toolCalls: CreditAmount
    public var total: CreditAmount
}

/// What `verify` found.
public struct VerificationReport: Sendable, Equatable {
    public var customers = 0
    public var entries = 0
    public var problems: [String] = []

    public var isClean: Bool { problems.isEmpty }
}
