import CreditsCore

/// The append-only `idempotency_keys` table (every applied event_id and command_id with the
/// SHA-256 digest of its canonical form and its first outcome) and the in-memory index over it.
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

    /// Hash → the seqs of the rows with that hash. One plain dictionary entry per key (16 bytes
    /// of payload); the rare second row with the same 64-bit hash goes to `more`.
    struct Index {
        private var first: [Int64: Int64] = [:]
        private var more: [Int64: [Int64]] = [:]
        /// Rows added since the last `commit`, to undo on rollback.
        private var added: [(hash: Int64, seq: Int64)] = []

        var count: Int { first.count + more.values.reduce(0) { $0 + $1.count } }

        func seqs(for hash: Int64) -> [Int64] {
            guard let seq = first[hash] else { return [] }
            return [seq] + (more[hash] ?? [])
        }

        mutating func insert(_ hash: Int64, seq: Int64, tracked: Bool = true) {
            if first[hash] == nil { first[hash] = seq } else { more[hash, default: []].append(seq) }
            if tracked { added.append((hash, seq)) }
        }

        mutating func remove(_ hash: Int64, seq: Int64) {
            forget(hash, seq)
            if let position = added.lastIndex(where: { $0.hash == hash && $0.seq == seq }) { added.remove(at: position) }
        }

        private mutating func forget(_ hash: Int64, _ seq: Int64) {
            if first[hash] == seq {
                if var rest = more.removeValue(forKey: hash), !rest.isEmpty {
                    first[hash] = rest.removeFirst()
                    if !rest.isEmpty { more[hash] = rest }
                } else {
                    first[hash] = nil
                }
            } else if var rest = more[hash] {
                rest.removeAll { $0 == seq }
                more[hash] = rest.isEmpty ? nil : rest
            }
        }

        mutating func commit() { added.removeAll(keepingCapacity: true) }

        mutating func rollBack() {
            for row in added.reversed() { forget(row.hash, row.seq) }
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

    /// Claims `key` for a new input unless it was seen before (in the store or earlier in this
    /// batch). A new claim is written with the batch.
    /// A repeat is the same input when its digest matches; a key stored before digests existed
    /// (migration 003) is compared by `legacyFingerprint`.
    func claim(customerNum: Int64, kind: Kind, key: String, digest: [UInt8], legacyFingerprint: () -> Int64,
               seq newSeq: Int64, at now: Timestamp,
               index: inout Index, pending: inout PendingWrites) throws(StoreError) -> Claim {
        let hash = Self.hash(customerNum: customerNum, kind: kind, key: key)
        for seq in index.seqs(for: hash) {
            let found: Claim?
            if let position = pending.pendingKeyIndex(seq) {
                let row = pending.keys[position]
                guard !row.released, row.customerNum == customerNum, row.kind == kind, row.key == key else { continue }
                found = row.digest == digest
                    ? .duplicate(status: row.status, reason: row.reason, entryID: row.entryID) : .conflicting
            } else {
                let select = try connection.hot("""
                    SELECT fingerprint, status, reason, entry_id, digest FROM idempotency_keys
                    WHERE seq = ? AND customer_num = ? AND kind = ? AND key = ?
                    """)
                select.bind(.integer(seq), .integer(customerNum), .integer(kind.rawValue), .text(key))
                found = try select.firstRow { row -> Claim in
                    let same = row.optionalBlob(4).map { $0 == digest } ?? (row.int64(0) == legacyFingerprint())
                    guard same else { return .conflicting }
                    return .duplicate(status: row.int64(1) == 0 ? .applied : .rejected, reason: row.optionalString(2),
                                      entryID: row.optionalInt64(3))
                }
            }
            if let found { return found }
        }
        pending.keys.append(PendingWrites.Key(seq: newSeq, customerNum: customerNum, kind: kind, hash: hash, key: key,
                                              digest: digest, recordedAt: now))
        index.insert(hash, seq: newSeq)
        return .new(seq: newSeq)
    }

    static let insertColumns = ["seq", "customer_num", "kind", "key_hash", "key", "fingerprint", "status", "reason",
                                "entry_id", "recorded_at", "digest"]

    static func values(_ row: PendingWrites.Key) -> [SQLiteValue] {
        [.integer(row.seq), .integer(row.customerNum), .integer(row.kind.rawValue), .integer(row.hash), .text(row.key),
         .integer(0), .integer(row.status == .applied ? 0 : 1), .text(row.reason), .integer(row.entryID),
         .integer(row.recordedAt.millisecondsSinceEpoch), .blob(row.digest)]
    }

    func maxSeq() throws(StoreError) -> Int64 {
        try connection.statement("SELECT coalesce(max(seq), 0) FROM idempotency_keys").firstRow { $0.int64(0) } ?? 0
    }

    /// Deletes the keys recorded before `cutoff` (oldest first: keys are in write order) and
    /// returns them, for the caller to drop from the index once the transaction has committed.
    func prune(recordedBefore cutoff: Timestamp) throws(StoreError) -> [(seq: Int64, hash: Int64)] {
        let scan = try connection.statement(
            "SELECT seq, customer_num, kind, key, coalesce(recorded_at, 0) FROM idempotency_keys ORDER BY seq")
        var expired: [(seq: Int64, hash: Int64)] = []
        while try scan.step() {
            guard scan.int64(4) < cutoff.millisecondsSinceEpoch else { break }
            let kind = Kind(rawValue: scan.int64(2)) ?? .usage
            expired.append((scan.int64(0), Self.hash(customerNum: scan.int64(1), kind: kind, key: scan.string(3))))
        }
        scan.reset()
        guard let last = expired.last else { return [] }
        let delete = try connection.statement("DELETE FROM idempotency_keys WHERE seq <= ?")
        delete.bind(1, last.seq)
        try delete.run()
        return expired
    }
}
