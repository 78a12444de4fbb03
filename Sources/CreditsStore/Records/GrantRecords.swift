import CreditsCore

/// The `grants` table: one row per grant with credits left. A batch writes only the grants its
/// entries made or drew from, and deletes those with nothing left.
struct GrantRecords {
    let connection: SQLiteConnection

    static let columns = ["customer_num", "entry_id", "amount", "remaining", "expires_at", "note", "added_at"]

    /// A grant changed by a batch, as it is afterwards; `isNew` when the batch made it.
    struct Change {
        var customerNum: Int64
        var grant: Grant
        var isNew: Bool
    }

    /// A customer's grants with credits left, in draw-down order (the first's remaining derived
    /// from the balance: `GrantBook.init(stored:balance:)`).
    func active(customerNum: Int64, balance: CreditAmount) throws(StoreError) -> GrantBook {
        GrantBook(stored: try rows(customerNum: customerNum), balance: balance)
    }

    /// A customer's grant rows as stored.
    func rows(customerNum: Int64) throws(StoreError) -> [Grant] {
        let statement = try connection.statement(
            "SELECT entry_id, amount, remaining, expires_at, note, added_at FROM grants WHERE customer_num = ?")
        statement.bind(1, customerNum)
        var grants: [Grant] = []
        while try statement.step() {
            grants.append(
                Grant(
                    entryID: statement.int64(0), amount: CreditAmount(micros: statement.int64(1)),
                    remaining: CreditAmount(micros: statement.int64(2)),
                    expiresAt: statement.optionalInt64(3).map(Timestamp.init(millisecondsSinceEpoch:)),
                    note: statement.string(4), addedAt: Timestamp(millisecondsSinceEpoch: statement.int64(5))))
        }
        return grants
    }

    /// Writes the newest state of each changed grant: a delete of those with nothing left, an
    /// upsert of the others but the customer's first grant (`first`, by customer number), whose
    /// remaining the balance gives unless the batch made it.
    func write(_ changes: [Change], first: (Int64) -> Int64?) throws(StoreError) {
        guard !changes.isEmpty else { return }
        var newest: [Change] = []
        var position: [GrantKey: Int] = [:]
        for change in changes {
            let key = GrantKey(customerNum: change.customerNum, entryID: change.grant.entryID)
            if let index = position[key] {
                let wasNew = newest[index].isNew
                newest[index] = change
                newest[index].isNew = newest[index].isNew || wasNew
            } else {
                position[key] = newest.count
                newest.append(change)
            }
        }
        try connection.insert(
            newest.filter { $0.grant.remaining.micros > 0 && ($0.isNew || first($0.customerNum) != $0.grant.entryID) },
            into: "grants", columns: Self.columns,
            suffix: " ON CONFLICT(customer_num, entry_id) DO UPDATE SET remaining = excluded.remaining"
        ) { change in
            let grant = change.grant
            return [
                .integer(change.customerNum), .integer(grant.entryID), .integer(grant.amount.micros),
                .integer(grant.remaining.micros), .integer(grant.expiresAt?.millisecondsSinceEpoch), .text(grant.note),
                .integer(grant.addedAt.millisecondsSinceEpoch),
            ]
        }
        let delete = try connection.statement("DELETE FROM grants WHERE customer_num = ? AND entry_id = ?")
        for change in newest where change.grant.remaining.micros == 0 {
            delete.bind(.integer(change.customerNum), .integer(change.grant.entryID))
            try delete.run()
        }
    }

    private struct GrantKey: Hashable {
        var customerNum: Int64
        var entryID: Int64
    }
}
