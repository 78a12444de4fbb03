import CreditsCore

/// The `grants` table: one row per grant with credits left. A batch writes only the grants its
/// entries made or drew from, and deletes those with nothing left.
struct GrantRecords {
    let connection: SQLiteConnection

    static let columns = ["customer_num", "entry_id", "amount", "remaining", "expires_at", "note", "added_at"]

    /// A customer's grants with credits left, in draw-down order (the first's remaining derived
    /// from the balance: `GrantBook.init(stored:balance:)`).
    func active(customerNum: Int64, balance: CreditAmount) throws(StoreError) -> GrantBook {
        GrantBook(stored: try rows(customerNum: customerNum), balance: balance)
    }

    /// A customer's grant rows as stored.
    func rows(customerNum: Int64) throws(StoreError) -> [Grant] {
        let statement = try connection.statement("SELECT \(Self.rowColumns) FROM grants WHERE customer_num = ?")
        statement.bind(1, customerNum)
        var grants: [Grant] = []
        while try statement.step() { grants.append(Self.grant(from: statement)) }
        return grants
    }

    /// Every customer's grant rows as stored, by customer number (for `verify`).
    func allRows() throws(StoreError) -> [Int64: [Grant]] {
        let statement = try connection.statement("SELECT \(Self.rowColumns), customer_num FROM grants")
        var grants: [Int64: [Grant]] = [:]
        while try statement.step() { grants[statement.int64(6), default: []].append(Self.grant(from: statement)) }
        return grants
    }

    /// The columns `grant(from:)` reads, from offset 0.
    static let rowColumns = "entry_id, amount, remaining, expires_at, note, added_at"

    static func grant(from row: SQLiteStatement) -> Grant {
        Grant(
            entryID: row.int64(0), amount: CreditAmount(micros: row.int64(1)), remaining: CreditAmount(micros: row.int64(2)),
            expiresAt: row.optionalInt64(3).map(Timestamp.init(millisecondsSinceEpoch:)), note: row.string(4),
            addedAt: Timestamp(millisecondsSinceEpoch: row.int64(5)))
    }

    /// Writes a batch's grant changes (`GrantWrites`), by customer number.
    func write(_ changes: [(customer: Int64, change: GrantChange)], first: (Int64) -> Int64?) throws(StoreError) {
        guard !changes.isEmpty else { return }
        let writes = GrantWrites(changes, first: first)
        try connection.insert(
            writes.upserts, into: "grants", columns: Self.columns,
            suffix: " ON CONFLICT(customer_num, entry_id) DO UPDATE SET remaining = excluded.remaining"
        ) { row in
            let grant = row.grant
            return [
                .integer(row.customer), .integer(grant.entryID), .integer(grant.amount.micros),
                .integer(grant.remaining.micros), .integer(grant.expiresAt?.millisecondsSinceEpoch), .text(grant.note),
                .integer(grant.addedAt.millisecondsSinceEpoch),
            ]
        }
        let delete = try connection.statement("DELETE FROM grants WHERE customer_num = ? AND entry_id = ?")
        for row in writes.deletes {
            delete.bind(.integer(row.customer), .integer(row.grant.entryID))
            try delete.run()
        }
    }
}
