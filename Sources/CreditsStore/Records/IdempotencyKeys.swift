import CreditsCore

/// The `idempotency_keys` table: every applied event_id and command_id with a fingerprint of
/// its fields and its first outcome.
struct IdempotencyKeys {
    enum Kind: Int64 {
        case usage = 0
        case command = 1
    }

    /// What a key has been seen as before.
    enum Claim: Equatable {
        /// First time: the key is now recorded.
        case new
        /// Seen with the same fields; the first outcome.
        case duplicate(status: CommandResult.Status, reason: String?, entryID: Int64?)
        /// Seen with other fields.
        case conflicting
    }

    let connection: SQLiteConnection

    /// Records `key` unless it is already there (one INSERT on the common path).
    func claim(customerNum: Int64, kind: Kind, key: String, fingerprint: Int64) throws(StoreError) -> Claim {
        let hash = Fingerprint.of(key)
        let insert = try connection.statement("""
            INSERT INTO idempotency_keys(customer_num, kind, key_hash, key, fingerprint, status)
            VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING
            """)
        insert.bind(.integer(customerNum), .integer(kind.rawValue), .integer(hash), .text(key), .integer(fingerprint))
        try insert.run()
        if connection.changes == 1 { return .new }
        let select = try connection.statement("""
            SELECT fingerprint, status, reason, entry_id FROM idempotency_keys
            WHERE customer_num = ? AND kind = ? AND key_hash = ? AND key = ?
            """)
        select.bind(.integer(customerNum), .integer(kind.rawValue), .integer(hash), .text(key))
        guard try select.step() else {
            throw StoreError(code: -1, message: "idempotency key vanished", context: "claiming \(key)")
        }
        guard select.int64(0) == fingerprint else { return .conflicting }
        return .duplicate(status: select.int64(1) == 0 ? .applied : .rejected, reason: select.optionalString(2),
                          entryID: select.optionalInt64(3))
    }

    /// Stores the outcome of a command claimed with `claim`.
    func recordOutcome(customerNum: Int64, kind: Kind, key: String, status: CommandResult.Status, reason: String?,
                       entryID: Int64?) throws(StoreError) {
        let update = try connection.statement("""
            UPDATE idempotency_keys SET status = ?, reason = ?, entry_id = ?
            WHERE customer_num = ? AND kind = ? AND key_hash = ? AND key = ?
            """)
        update.bind(.integer(status == .applied ? 0 : 1), .text(reason), .integer(entryID), .integer(customerNum),
                    .integer(kind.rawValue), .integer(Fingerprint.of(key)), .text(key))
        try update.run()
    }

    /// Forgets a claim whose input turned out not to be applicable.
    func release(customerNum: Int64, kind: Kind, key: String) throws(StoreError) {
        let delete = try connection.statement(
            "DELETE FROM idempotency_keys WHERE customer_num = ? AND kind = ? AND key_hash = ? AND key = ?")
        delete.bind(.integer(customerNum), .integer(kind.rawValue), .integer(Fingerprint.of(key)), .text(key))
        try delete.run()
    }
}
