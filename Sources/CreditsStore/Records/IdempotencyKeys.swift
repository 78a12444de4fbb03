import CreditsCore

/// The append-only `idempotency_keys` table (every applied event_id and command_id with the
/// SHA-256 digest of its canonical form and its first outcome) and the runs of `key_runs` that
/// index it by a 64-bit hash of (customer, kind, key); `KeyIndex` says which to read. The row
/// holds the full key, so a hash collision only costs a second lookup.
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

    let connection: SQLiteConnection

    static func hash(customerNum: Int64, kind: Kind, key: String) -> Int64 {
        var fingerprint = Fingerprint()
        fingerprint.add(customerNum)
        fingerprint.add(kind.rawValue)
        fingerprint.add(key)
        return fingerprint.signed
    }

    /// Opens the index over the stored keys: first writes runs for what no run covers yet, in
    /// transactions of `runSize` keys (a store from before runs, or one that stopped between
    /// runs), then fills the filter from the runs and reads the newest keys into memory.
    func loadIndex(runSize: Int) throws(StoreError) -> KeyIndex {
        try deleteIncompleteRun()
        var runs = try storedRuns()
        let newest = try maxSeq()
        while newest - (runs.last?.lastSeq ?? 0) > Int64(runSize) {
            let indexed = runs.last?.lastSeq ?? 0
            let run = KeyIndex.Run.following(runs.last, from: indexed + 1, through: indexed + Int64(runSize))
            try connection.transaction { () throws(StoreError) in try write(run) }
            runs.append(run)
        }
        let lowest = try connection.statement("SELECT coalesce(min(seq), 1) FROM idempotency_keys").firstRow { $0.int64(0) } ?? 1
        var index = KeyIndex(filter: KeyFilter(expectedKeys: max(Int(newest - lowest + 1) * 2, 1 << 20)), runs: runs)
        let hashes = try connection.statement("SELECT key_hash FROM key_runs")
        while try hashes.step() { index.filter.insert(hashes.int64(0)) }
        let recent = try connection.statement("SELECT seq, key_hash FROM idempotency_keys WHERE seq > ?")
        recent.bind(1, index.indexedThrough)
        while try recent.step() {
            index.recent.insert(recent.int64(1), seq: recent.int64(0), tracked: false)
            index.filter.insert(recent.int64(1))
        }
        return index
    }

    /// The runs in `key_runs`, oldest first.
    func storedRuns() throws(StoreError) -> [KeyIndex.Run] {
        let statement = try connection.statement("SELECT run, first_seq, last_seq FROM key_run_ranges ORDER BY run")
        var runs: [KeyIndex.Run] = []
        while try statement.step() {
            runs.append(KeyIndex.Run(id: statement.int64(0), firstSeq: statement.int64(1), lastSeq: statement.int64(2)))
        }
        return runs
    }

    /// Writes `run`: the hashes of the stored keys in its seq range, sorted, as one segment of
    /// `key_runs` (inside the caller's transaction).
    func write(_ run: KeyIndex.Run) throws(StoreError) {
        let rows = try connection.statement(
            """
            INSERT INTO key_runs(run, key_hash, seq)
            SELECT ?, key_hash, seq FROM idempotency_keys WHERE seq BETWEEN ? AND ? ORDER BY key_hash, seq
            """)
        rows.bind(.integer(run.id), .integer(run.firstSeq), .integer(run.lastSeq))
        try rows.run()
        try recordRange(of: run)
    }

    /// Up to `limit` (hash, seq) of the keys with seq in `first...last`, by seq (`PendingKeyRun`).
    func runRows(from first: Int64, through last: Int64, limit: Int) throws(StoreError) -> [(hash: Int64, seq: Int64)] {
        let statement = try connection.hot(
            "SELECT key_hash, seq FROM idempotency_keys WHERE seq BETWEEN ? AND ? ORDER BY seq LIMIT ?")
        statement.bind(.integer(first), .integer(last), .integer(Int64(limit)))
        var rows: [(hash: Int64, seq: Int64)] = []
        rows.reserveCapacity(min(limit, 65_536))
        while try statement.step() { rows.append((statement.int64(0), statement.int64(1))) }
        return rows
    }

    /// Appends rows, in (hash, seq) order, to run `id` of `key_runs`.
    func appendToRun(_ id: Int64, _ rows: ArraySlice<(hash: Int64, seq: Int64)>) throws(StoreError) {
        try connection.insert(Array(rows), into: "key_runs", columns: ["run", "key_hash", "seq"]) { row in
            [.integer(id), .integer(row.hash), .integer(row.seq)]
        }
    }

    /// Marks `run` complete: its range row makes it part of the index.
    func recordRange(of run: KeyIndex.Run) throws(StoreError) {
        let range = try connection.statement("INSERT INTO key_run_ranges(run, first_seq, last_seq) VALUES (?, ?, ?)")
        range.bind(.integer(run.id), .integer(run.firstSeq), .integer(run.lastSeq))
        try range.run()
    }

    /// Deletes the rows of a run that a crash left half-written (a run without its range row).
    func deleteIncompleteRun() throws(StoreError) {
        try connection.statement(
            "DELETE FROM key_runs WHERE run > (SELECT coalesce(max(run), 0) FROM key_run_ranges)"
        ).run()
    }

    /// The seqs a run holds under `hash`.
    func seqs(in run: KeyIndex.Run, hash: Int64) throws(StoreError) -> [Int64] {
        let statement = try connection.hot("SELECT seq FROM key_runs WHERE run = ? AND key_hash = ?")
        statement.bind(.integer(run.id), .integer(hash))
        var seqs: [Int64] = []
        while try statement.step() { seqs.append(statement.int64(0)) }
        return seqs
    }

    /// Claims `key` for a new input unless it was seen before (in the store or earlier in this
    /// batch). A new claim is written with the batch.
    /// A repeat is the same input when its digest matches; a key stored before digests existed
    /// (migration 003) is compared by `legacyFingerprint`.
    func claim(
        customerNum: Int64, kind: Kind, key: String, digest: [UInt8], legacyFingerprint: () -> Int64,
        seq newSeq: Int64, at now: Timestamp,
        index: inout KeyIndex, pending: inout PendingWrites
    ) throws(StoreError) -> Claim {
        let hash = Self.hash(customerNum: customerNum, kind: kind, key: key)
        let row = StoredKey(customerNum: customerNum, kind: kind, key: key, digest: digest)
        for seq in index.recent.seqs(for: hash) {
            if let found = try row.find(seq: seq, pending: pending, connection: connection, legacyFingerprint: legacyFingerprint)
            {
                return found
            }
        }
        if index.filter.mayContain(hash) {
            for run in index.runs.reversed() {
                for seq in try seqs(in: run, hash: hash) {
                    if let found = try row.find(
                        seq: seq, pending: pending, connection: connection, legacyFingerprint: legacyFingerprint)
                    {
                        return found
                    }
                }
            }
        }
        pending.keys.append(
            PendingWrites.Key(
                seq: newSeq, customerNum: customerNum, kind: kind, hash: hash, key: key,
                digest: digest, recordedAt: now))
        index.insert(hash, seq: newSeq)
        return .new(seq: newSeq)
    }

    /// The key being claimed, compared with a candidate row.
    private struct StoredKey {
        let customerNum: Int64
        let kind: Kind
        let key: String
        let digest: [UInt8]

        /// The claim if the key at `seq` (pending in this batch, or stored) is this one; nil if
        /// it is another key with the same hash, or gone. Keys stored before digests are compared
        /// by `legacyFingerprint`.
        func find(
            seq: Int64, pending: PendingWrites, connection: SQLiteConnection,
            legacyFingerprint: () -> Int64
        ) throws(StoreError) -> Claim? {
            if let position = pending.pendingKeyIndex(seq) {
                let row = pending.keys[position]
                guard !row.released, row.customerNum == customerNum, row.kind == kind, row.key == key else { return nil }
                return row.digest == digest
                    ? .duplicate(status: row.status, reason: row.reason, entryID: row.entryID) : .conflicting
            }
            let select = try connection.hot(
                """
                SELECT fingerprint, status, reason, entry_id, digest FROM idempotency_keys
                WHERE seq = ? AND customer_num = ? AND kind = ? AND key = ?
                """)
            select.bind(.integer(seq), .integer(customerNum), .integer(kind.rawValue), .text(key))
            return try select.firstRow { row -> Claim in
                let same = row.optionalBlob(4).map { $0 == digest } ?? (row.int64(0) == legacyFingerprint())
                guard same else { return .conflicting }
                return .duplicate(
                    status: row.int64(1) == 0 ? .applied : .rejected, reason: row.optionalString(2),
                    entryID: row.optionalInt64(3))
            }
        }
    }

    static let insertColumns = [
        "seq", "customer_num", "kind", "key_hash", "key", "fingerprint", "status", "reason",
        "entry_id", "recorded_at", "digest",
    ]

    /// Binds a pending key's values in `insertColumns` order.
    static func bind(_ binder: inout SQLiteRowBinder, _ row: PendingWrites.Key) {
        binder.integer(row.seq)
        binder.integer(row.customerNum)
        binder.integer(row.kind.rawValue)
        binder.integer(row.hash)
        binder.text(row.key)
        binder.integer(0)
        binder.integer(row.status == .applied ? 0 : 1)
        binder.text(row.reason)
        binder.integer(row.entryID)
        binder.integer(row.recordedAt.millisecondsSinceEpoch)
        binder.blob(row.digest)
    }

    func maxSeq() throws(StoreError) -> Int64 {
        try connection.statement("SELECT coalesce(max(seq), 0) FROM idempotency_keys").firstRow { $0.int64(0) } ?? 0
    }

    /// Deletes the keys recorded before `cutoff` (oldest first: keys are in write order) and the
    /// runs that held only such keys; returns the deleted keys' seqs and hashes and the last seq,
    /// for the caller to update the index once the transaction has committed.
    func prune(recordedBefore cutoff: Timestamp) throws(StoreError) -> (keys: [(seq: Int64, hash: Int64)], through: Int64) {
        let scan = try connection.statement(
            "SELECT seq, key_hash, coalesce(recorded_at, 0) FROM idempotency_keys ORDER BY seq")
        var expired: [(seq: Int64, hash: Int64)] = []
        while try scan.step() {
            guard scan.int64(2) < cutoff.millisecondsSinceEpoch else { break }
            expired.append((scan.int64(0), scan.int64(1)))
        }
        scan.reset()
        guard let last = expired.last else { return ([], 0) }
        let delete = try connection.statement("DELETE FROM idempotency_keys WHERE seq <= ?")
        delete.bind(1, last.seq)
        try delete.run()
        for run in try storedRuns() where run.lastSeq <= last.seq {
            let rows = try connection.statement("DELETE FROM key_runs WHERE run = ?")
            rows.bind(1, run.id)
            try rows.run()
            let range = try connection.statement("DELETE FROM key_run_ranges WHERE run = ?")
            range.bind(1, run.id)
            try range.run()
        }
        return (expired, last.seq)
    }
}
