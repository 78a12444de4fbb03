import CreditsCore

/// The append-only `idempotency_keys` table (every applied event_id and command_id with a
/// fingerprint of its fields and its first outcome) and the in-memory index over it.
///
/// The index maps a 64-bit hash of (customer, kind, key) to the row's seq; the row holds the full
/// key, so a hash collision only costs a second lookup. Memory: about 40 bytes per key.
struct IdempotencyKeys {
    enum Kind: Int64 {
        case usage = 0
        case command = 1
    }

    /// What a key has been seen as before.
    enum Claim: Equatable {
        /// First time: the key is now recorded at `seq`.
        case new(seq: Int64)
        /// Seen with the same fields; the first outcome.
        case duplicate(status: CommandResult.Status, reason: String?, entryID: Int64?)
        /// Seen with other fields.
        case conflicting
    }

    /// Hash → seqs of the rows with that hash (almost always one).
    struct Index {
        private(set) var seqs: [Int64: [Int64]] = [:]
        /// Hashes added since the last `commit`, to undo on rollback.
        private var added: [Int64] = []

        var count: Int { seqs.count }

        mutating func insert(_ hash: Int64, seq: Int64, tracked: Bool = true) {
            seqs[hash, default: []].append(seq)
            if tracked { added.append(hash) }
        }

        mutating func remove(_ hash: Int64, seq: Int64) {
            seqs[hash]?.removeAll { $0 == seq }
            if seqs[hash]?.isEmpty == true { seqs[hash] = nil }
            if let position = added.lastIndex(of: hash) { added.remove(at: position) }
        }

        mutating func commit() { added.removeAll(keepingCapacity: true) }

        mutating func rollBack() {
            for hash in added { _ = seqs[hash]?.popLast(); if seqs[hash]?.isEmpty == true { seqs[hash] = nil } }
            added.removeAll(keepingCapacity: true)
        }
    }

    let connection: SQLiteConnection

    static func hash(customerNum: Int64, kind: Kind, key: String) -> Int64 {
        var fingerprint = Fingerprint()
        fingerprint.add(customerNum)
        fingerprint.add(kind.rawValue)
        fingerprint.add(key)
        return fingerprint.signed
    }

    /// Reads every stored key into a new index.
    func loadIndex() throws(StoreError) -> Index {
        var index = Index()
        let statement = try connection.statement("SELECT seq, customer_num, kind, key FROM idempotency_keys")
        while try statement.step() {
            let kind = Kind(rawValue: statement.int64(2)) ?? .usage
            index.insert(Self.hash(customerNum: statement.int64(1), kind: kind, key: statement.string(3)),
                         seq: statement.int64(0), tracked: false)
        }
        return index
    }

    /// Records `key` unless it is already there; one append on the common path.
    func claim(customerNum: Int64, kind: Kind, key: String, fingerprint: Int64,
               index: inout Index) throws(StoreError) -> Claim {
        let hash = Self.hash(customerNum: customerNum, kind: kind, key: key)
        for seq in index.seqs[hash] ?? [] {
            let select = try connection.hot("""
                SELECT fingerprint, status, reason, entry_id FROM idempotency_keys
                WHERE seq = ? AND customer_num = ? AND kind = ? AND key = ?
                """)
            select.bind(.integer(seq), .integer(customerNum), .integer(kind.rawValue), .text(key))
            let found = try select.firstRow { row -> Claim in
                guard row.int64(0) == fingerprint else { return .conflicting }
                return .duplicate(status: row.int64(1) == 0 ? .applied : .rejected, reason: row.optionalString(2),
                                  entryID: row.optionalInt64(3))
            }
            if let found { return found }
        }
        let insert = try connection.hot("""
            INSERT INTO idempotency_keys(customer_num, kind, key_hash, key, fingerprint, status) VALUES (?, ?, ?, ?, ?, 0)
            """)
        insert.bind(.integer(customerNum), .integer(kind.rawValue), .integer(hash), .text(key), .integer(fingerprint))
        try insert.run()
        let seq = connection.lastInsertRowID
        index.insert(hash, seq: seq)
        return .new(seq: seq)
    }

    /// Stores the outcome of a command claimed at `seq`.
    func recordOutcome(seq: Int64, status: CommandResult.Status, reason: String?, entryID: Int64?) throws(StoreError) {
        let update = try connection.statement("UPDATE idempotency_keys SET status = ?, reason = ?, entry_id = ? WHERE seq = ?")
        update.bind(.integer(status == .applied ? 0 : 1), .text(reason), .integer(entryID), .integer(seq))
        try update.run()
    }

    /// Forgets a claim whose input turned out not to be applicable.
    func release(seq: Int64, customerNum: Int64, kind: Kind, key: String, index: inout Index) throws(StoreError) {
        let delete = try connection.statement("DELETE FROM idempotency_keys WHERE seq = ?")
        delete.bind(1, seq)
        try delete.run()
        index.remove(Self.hash(customerNum: customerNum, kind: kind, key: key), seq: seq)
    }
}
