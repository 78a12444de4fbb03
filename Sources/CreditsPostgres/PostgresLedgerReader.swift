import CreditsCore
import CreditsStore
import Logging
import PostgresNIO

/// Read-only queries over the shared store, for the HTTP API and the CLI of any instance. One
/// connection; `snapshot` runs its body in one REPEATABLE READ transaction. Not thread-safe.
public final class PostgresLedgerReader: LedgerReading {
    private let session: PostgresSession
    private var inSnapshot = false

    public init(url: PostgresStoreURL, logger: Logger) {
        session = PostgresSession(url: url, role: "reader", logger: logger)
    }

    public func snapshot<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        guard !inSnapshot else { return try body() }
        inSnapshot = true
        defer { inSnapshot = false }
        return try session.transaction("REPEATABLE READ", readOnly: true, body)
    }

    public func account(_ customerID: String) throws(StoreError) -> CustomerAccount? {
        let rows = try session.query(
            """
            SELECT \(unescaped: PostgresRecords.customerSelect) FROM customers WHERE customer_id = \(customerID)
            """, "reading a customer")
        return try PostgresRecords.accounts(from: rows, session: session).first
    }

    public func customers(_ filter: CustomerFilter, after: String?, limit: Int) throws(StoreError) -> [CustomerAccount] {
        let state = filter.state?.code ?? -1
        let lowCredit = filter.lowCredit
        let rows = try session.query(
            """
            SELECT \(unescaped: PostgresRecords.customerSelect) FROM customers
            WHERE credits_enabled AND customer_id > \(after ?? "") AND (\(state) < 0 OR block_state = \(state))
              AND (NOT \(lowCredit) OR (low_credit_threshold IS NOT NULL AND balance <= low_credit_threshold))
            ORDER BY customer_id LIMIT \(Int64(limit))
            """, "listing customers")
        return try PostgresRecords.accounts(from: rows, session: session)
    }

    /// One indexed query (entries by customer and entry id, newest first); `scanLimit` is not needed.
    public func balance(_ customerID: String, at: Timestamp, scanLimit: Int) throws(StoreError) -> (
        balance: CreditAmount, entryID: Int64
    )? {
        let rows = try session.query(
            """
            SELECT balance, entry_id FROM entries
            WHERE customer_id = \(customerID) AND recorded_at <= \(at.millisecondsSinceEpoch)
            ORDER BY entry_id DESC LIMIT 1
            """, "reading a balance at a time")
        guard let row = rows.first else { return (.zero, 0) }
        let columns = PostgresColumns(row)
        return (CreditAmount(micros: try columns.int(0)), try columns.int(1))
    }

    public func audit(_ customerID: String, before cursor: Int64?, limit: Int) throws(StoreError) -> AuditPage {
        let rows = try session.query(
            """
            SELECT seq, command_id, actor, type, issued_at, recorded_at, changes FROM audit
            WHERE customer_id = \(customerID) AND seq < \(cursor ?? Int64.max) ORDER BY seq DESC LIMIT \(Int64(limit) + 1)
            """, "reading a customer's audit")
        var page = AuditPage(records: [], next: nil)
        for row in rows {
            let columns = PostgresColumns(row)
            if page.records.count == limit {
                page.next = try columns.int(0) + 1
                break
            }
            page.records.append(
                AuditRecord(
                    customerID: customerID, commandID: try columns.string(1), actor: try columns.string(2),
                    type: try columns.string(3), issuedAt: Timestamp(millisecondsSinceEpoch: try columns.int(4)),
                    recordedAt: Timestamp(millisecondsSinceEpoch: try columns.int(5)),
                    changes: AuditRecord.changes(fromJSON: try columns.string(6))))
        }
        return page
    }

    /// Newest first; the cursor is the id of the next (older) entry to show.
    public func entries(
        _ customerID: String, cursor: HistoryCursor?, limit: Int,
        kind: LedgerEntry.Kind?
    ) throws(StoreError) -> HistoryPage {
        let below = cursor?.seq ?? Int64.max
        let kindCode = kind.flatMap { PostgresRecords.kinds.firstIndex(of: $0) }.map(Int64.init) ?? -1
        let rows = try session.query(
            """
            SELECT \(unescaped: PostgresRecords.entrySelect) FROM entries
            WHERE customer_id = \(customerID) AND entry_id <= \(below) AND (\(kindCode) < 0 OR kind = \(kindCode))
            ORDER BY entry_id DESC LIMIT \(Int64(limit) + 1)
            """, "reading a customer's entries")
        var page = HistoryPage(entries: [], next: nil)
        for row in rows {
            let entry = try PostgresRecords.entry(from: PostgresColumns(row))
            if page.entries.count == limit {
                page.next = HistoryCursor(seq: entry.entryID)
                break
            }
            page.entries.append(entry)
        }
        return page
    }

    public func usage(
        _ customerID: String, from: Timestamp, to: Timestamp,
        bucketMilliseconds: Int64, scanLimit: Int
    ) throws(StoreError) -> [UsageBucket]? {
        let rows = try session.query(
            """
            SELECT occurred_at, amount, call_part, ai_part, tool_part FROM entries
            WHERE customer_id = \(customerID) AND kind = 2
              AND occurred_at >= \(from.millisecondsSinceEpoch) AND occurred_at < \(to.millisecondsSinceEpoch)
            LIMIT \(Int64(scanLimit) + 1)
            """, "reading a customer's usage")
        guard rows.count <= scanLimit else { return nil }
        var buckets = UsageBuckets(bucketMilliseconds: bucketMilliseconds)
        for row in rows {
            let columns = PostgresColumns(row)
            let occurredAt = try columns.int(0)
            guard
                buckets.add(
                    occurredAt: occurredAt, charge: -(try columns.int(1)), call: try columns.optionalInt(2) ?? 0,
                    ai: try columns.optionalInt(3) ?? 0, toolCalls: try columns.optionalInt(4) ?? 0)
            else {
                throw StoreError(
                    code: StoreError.amountOutOfRangeCode,
                    message: "the usage of \(customerID) from \(buckets.start(of: occurredAt)) exceeds the "
                        + "range of an amount; ask for smaller buckets",
                    context: "summing amounts", backend: "PostgreSQL")
            }
        }
        return buckets.sorted
    }

    public func verify() throws(StoreError) -> VerificationReport {
        // Both reads in one snapshot, back to back; the rows are checked after it ends (hashing
        // every entry takes longer than the server lets a transaction sit idle).
        let (entries, customers, grantRows) = try snapshot { () throws(StoreError) in
            (
                try session.query(
                    "SELECT \(unescaped: PostgresRecords.entrySelect) FROM entries ORDER BY customer_id, entry_id",
                    "reading every entry"),
                try session.query(
                    """
                    SELECT customer_id, balance, last_entry_id, head_hash FROM customers ORDER BY customer_id
                    """,
                    "reading every customer"),
                try session.query("SELECT \(unescaped: PostgresRecords.grantSelect) FROM grants", "reading every grant")
            )
        }
        let grants = try PostgresRecords.grantsByCustomer(grantRows)
        var verifier = LedgerVerifier()
        for row in entries { verifier.entry(try PostgresRecords.entry(from: PostgresColumns(row))) }
        do {
            for row in customers {
                let columns = PostgresColumns(row)
                let name = try columns.string(0)
                let balance = try columns.int(1)
                let lastEntryID = try columns.int(2)
                verifier.customer(name, balance: balance, lastEntryID: lastEntryID)
                verifier.head(name, hash: try columns.optionalString(3).flatMap { ChainHash(hex: $0) }, lastEntryID: lastEntryID)
                verifier.grants(name, rows: grants[name] ?? [], balance: balance)
            }
        }
        return verifier.result
    }

    public func outboxDepth() throws(StoreError) -> Int { try PostgresQueries.outboxDepth(session) }

    public func blockStateCounts() throws(StoreError) -> [String: Int] {
        try PostgresQueries.blockStateCounts(session)
    }

    public func close() { session.close() }
}

/// Queries both the writer and the readers run.
enum PostgresQueries {
    /// Output messages not yet acknowledged, of every partition.
    static func outboxDepth(_ session: PostgresSession) throws(StoreError) -> Int {
        try PostgresOutbox.depth(session)
    }

    static func blockStateCounts(_ session: PostgresSession) throws(StoreError) -> [String: Int] {
        var counts = ["active": 0, "grace": 0, "blocked": 0]
        for row in try session.query(
            """
            SELECT block_state, count(*) FROM customers WHERE credits_enabled GROUP BY block_state
            """, "counting customers by state")
        {
            let columns = PostgresColumns(row)
            counts[["active", "grace", "blocked"][Int(try columns.int(0)) % 3]] = Int(try columns.int(1))
        }
        return counts
    }
}
