import CreditsCore

/// Read-only queries over the store for the HTTP API and the CLI. Uses its own connection, so it
/// reads committed data while the writer works (WAL). Not thread-safe: one per task, or guard it.
public final class LedgerReader {
    private let connection: SQLiteConnection

    /// Opens the store at `path` for reading; the file must exist.
    public init(path: String) throws(StoreError) {
        connection = try SQLiteConnection(path: path, readOnly: true)
    }

    /// Runs `body` in one read transaction: everything it reads comes from one snapshot of the
    /// store, however the writer moves on meanwhile.
    public func snapshot<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try connection.transaction(writing: false, body)
    }

    /// A customer's state, or nil if the store has never seen it.
    public func account(_ customerID: String) throws(StoreError) -> CustomerAccount? {
        try CustomerRecords(connection: connection).load(customerID)?.account
    }

    /// A page of a customer's entries of `kind` (all kinds when nil), newest first, starting
    /// below the `cursor` of a previous page. Walks the customer's chain of entries, reading at
    /// most `scanLimit` of them, so a rare kind never makes one request expensive.
    public func entries(
        _ customerID: String, cursor: HistoryCursor? = nil, limit: Int = 50,
        kind: LedgerEntry.Kind? = nil, scanLimit: Int = 10_000
    ) throws(StoreError) -> HistoryPage {
        var page = HistoryPage(entries: [], next: nil)
        var seq: Int64?
        if let cursor {
            seq = cursor.seq
        } else {
            seq = try CustomerRecords(connection: connection).load(customerID)?.lastEntrySeq
        }
        let records = EntryRecords(connection: connection)
        var scanned = 0
        while let current = seq, page.entries.count < limit, scanned < scanLimit {
            guard let (entry, previous) = try records.load(seq: current), entry.customerID == customerID else { break }
            if kind == nil || entry.kind == kind { page.entries.append(entry) }
            scanned += 1
            seq = previous
        }
        if let seq { page.next = HistoryCursor(seq: seq) }
        return page
    }

    /// Customers with credits enabled matching `filter`, in customer_id order after `after`.
    public func customers(_ filter: CustomerFilter, after: String?, limit: Int) throws(StoreError) -> [CustomerAccount] {
        let statement = try connection.statement(
            """
            SELECT \(CustomerRecords.columns) FROM customers
            WHERE credits_enabled = 1 AND customer_id > ? AND (? < 0 OR block_state = ?)
              AND (? = 0 OR (low_credit_threshold IS NOT NULL AND balance <= low_credit_threshold))
            ORDER BY customer_id LIMIT ?
            """)
        let state = filter.state?.code ?? -1
        statement.bind(
            .text(after ?? ""), .integer(state), .integer(state), .integer(filter.lowCredit ? 1 : 0), .integer(Int64(limit)))
        var accounts: [CustomerAccount] = []
        while try statement.step() { accounts.append(CustomerRecords.account(from: statement)) }
        return accounts
    }

    /// Walks the customer's entries from the newest back to the last one recorded at or before
    /// `at`, reading at most `scanLimit` of them.
    public func balance(_ customerID: String, at: Timestamp, scanLimit: Int) throws(StoreError) -> (
        balance: CreditAmount, entryID: Int64
    )? {
        var seq = try CustomerRecords(connection: connection).load(customerID)?.lastEntrySeq
        let records = EntryRecords(connection: connection)
        var scanned = 0
        while let current = seq {
            guard scanned < scanLimit else { return nil }
            guard let (entry, previous) = try records.load(seq: current) else { break }
            if entry.recordedAt <= at { return (entry.balance, entry.entryID) }
            scanned += 1
            seq = previous
        }
        return (.zero, 0)
    }

    public func audit(_ customerID: String, before cursor: Int64?, limit: Int) throws(StoreError) -> AuditPage {
        guard let customer = try CustomerRecords(connection: connection).load(customerID) else {
            return AuditPage(records: [], next: nil)
        }
        return try AuditRecords(connection: connection).page(
            customerNum: customer.num, customerID: customerID, before: cursor, limit: limit)
    }

    /// Consumption per time bucket: every used entry whose `occurred_at` is in [from, to), oldest
    /// bucket first, read through the index on (customer, occurred_at) of used entries. A bucket
    /// whose sums leave the range of an amount throws `StoreError.amountOutOfRange`.
    public func usage(
        _ customerID: String, from: Timestamp, to: Timestamp,
        bucketMilliseconds: Int64, scanLimit: Int
    ) throws(StoreError) -> [UsageBucket]? {
        guard let customer = try CustomerRecords(connection: connection).load(customerID) else { return [] }
        let statement = try connection.statement(
            """
            SELECT occurred_at, amount, call_part, ai_part, tool_part FROM entries INDEXED BY entries_used_by_time
            WHERE customer_num = ? AND kind = 2 AND occurred_at >= ? AND occurred_at < ? LIMIT ?
            """)
        statement.bind(
            .integer(customer.num), .integer(from.millisecondsSinceEpoch), .integer(to.millisecondsSinceEpoch),
            .integer(Int64(scanLimit) + 1))
        var buckets = UsageBuckets(bucketMilliseconds: bucketMilliseconds)
        var scanned = 0
        while try statement.step() {
            scanned += 1
            guard scanned <= scanLimit else {
                statement.reset()
                return nil
            }
            guard
                buckets.add(
                    occurredAt: statement.int64(0), charge: -statement.int64(1),
                    call: statement.optionalInt64(2) ?? 0, ai: statement.optionalInt64(3) ?? 0,
                    toolCalls: statement.optionalInt64(4) ?? 0)
            else {
                let start = buckets.start(of: statement.int64(0))
                statement.reset()
                throw StoreError.amountOutOfRange(
                    "the usage of \(customerID) from \(start) exceeds the range of an "
                        + "amount; ask for smaller buckets")
            }
        }
        return buckets.sorted
    }

    /// Checks every customer's chain of entries: each balance is the previous plus the amount,
    /// ids run 1, 2, 3 … without gaps, and the stored balance is the sum. One pass over the
    /// entries in write order, in one snapshot (a live store gives no false mismatches).
    public func verify() throws(StoreError) -> VerificationReport {
        try snapshot { () throws(StoreError) in try verifySnapshot() }
    }

    private func verifySnapshot() throws(StoreError) -> VerificationReport {
        var verifier = LedgerVerifier()
        var names: [Int64: String] = [:]
        var stored: [(num: Int64, balance: Int64, lastEntryID: Int64, head: ChainHash?)] = []
        let customers = try connection.statement(
            "SELECT customer_num, customer_id, balance, last_entry_id, head_hash FROM customers")
        while try customers.step() {
            names[customers.int64(0)] = customers.string(1)
            stored.append(
                (
                    customers.int64(0), customers.int64(2), customers.int64(3),
                    customers.optionalHash(4)
                ))
        }
        let entries = try connection.statement(
            "SELECT \(EntryRecords.columns), e.customer_num FROM entries e ORDER BY e.seq")
        while try entries.step() {
            let num = entries.int64(Int32(EntryRecords.columnCount))
            verifier.entry(EntryRecords.entry(from: entries, customerID: names[num] ?? "customer #\(num)"))
        }
        let grantRows = try GrantRecords(connection: connection).allRows()
        for customer in stored.sorted(by: { $0.num < $1.num }) {
            let name = names[customer.num] ?? ""
            verifier.customer(name, balance: customer.balance, lastEntryID: customer.lastEntryID)
            verifier.head(name, hash: customer.head, lastEntryID: customer.lastEntryID)
            verifier.grants(name, rows: grantRows[customer.num] ?? [], balance: customer.balance)
        }
        return verifier.result
    }

    /// Writes a consistent copy of the store to a new file at `path` (SQLite's online backup),
    /// while the service keeps writing.
    public func backup(to path: String) throws(StoreError) { try connection.backup(to: path) }

    /// Output messages not yet acknowledged by the broker.
    public func outboxDepth() throws(StoreError) -> Int { try Outbox(connection: connection).count() }

    /// Customers with credits enabled per block state name (`active`, `grace`, `blocked`).
    public func blockStateCounts() throws(StoreError) -> [String: Int] {
        try CustomerRecords(connection: connection).blockStateCounts()
    }
}

/// Where the next page of a history starts: opaque to clients (its text is a number).
public struct HistoryCursor: Sendable, Equatable {
    public var seq: Int64

    public init(seq: Int64) { self.seq = seq }

    public init?(_ text: String) {
        guard let seq = Int64(text), seq > 0 else { return nil }
        self.seq = seq
    }

    public var text: String { String(seq) }
}

/// One page of a customer's history, newest first.
public struct HistoryPage: Sendable, Equatable {
    public var entries: [LedgerEntry]
    /// Set when older entries remain.
    public var next: HistoryCursor?

    public init(entries: [LedgerEntry], next: HistoryCursor?) {
        self.entries = entries
        self.next = next
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

    public init(
        start: Timestamp, events: Int = 0, call: CreditAmount = .zero, ai: CreditAmount = .zero,
        toolCalls: CreditAmount = .zero, total: CreditAmount = .zero
    ) {
        self.start = start
        self.events = events
        self.call = call
        self.ai = ai
        self.toolCalls = toolCalls
        self.total = total
    }

    /// Adds one used entry (micro-credits); false, changing nothing, when a sum would overflow.
    mutating func add(charge: Int64, call: Int64, ai: Int64, toolCalls: Int64) -> Bool {
        let sums = [(total.micros, charge), (self.call.micros, call), (self.ai.micros, ai), (self.toolCalls.micros, toolCalls)]
            .map { $0.addingReportingOverflow($1) }
        guard !sums.contains(where: \.overflow) else { return false }
        events += 1
        total = CreditAmount(micros: sums[0].partialValue)
        self.call = CreditAmount(micros: sums[1].partialValue)
        self.ai = CreditAmount(micros: sums[2].partialValue)
        self.toolCalls = CreditAmount(micros: sums[3].partialValue)
        return true
    }
}

/// What `verify` found.
public struct VerificationReport: Sendable, Equatable {
    public var customers = 0
    public var entries = 0
    public var problems: [String] = []

    public var isClean: Bool { problems.isEmpty }
}
