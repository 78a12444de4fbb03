/// A run of idempotency keys on its way to `key_runs`, a bounded slice per batch: the keys are
/// read by seq, sorted once in memory, then appended in hash order, at most
/// `Options.keyRunSliceRows` rows of reading and writing per batch. Written in one go, a run of
/// the default 262 144 keys held its batch up for 0.3-1 s (store benchmark, batches of 2 000);
/// in slices of 8 192 rows the slowest batch is the one that sorts the run, about 0.15 s. The keys stay in `KeyIndex.recent` until the run is complete, so
/// lookups never depend on a half-written run; a crash leaves rows of a run that has no
/// `key_run_ranges` row, which the next open deletes (`IdempotencyKeys.loadIndex`).
struct PendingKeyRun {
    let run: KeyIndex.Run
    /// The next seq to read.
    private(set) var nextSeq: Int64
    /// (hash, seq) of the run's keys read so far; in (hash, seq) order once `isSorted`.
    private(set) var rows: [(hash: Int64, seq: Int64)] = []
    private(set) var isSorted = false
    /// How many of `rows` are in `key_runs`.
    private(set) var written = 0

    init(_ run: KeyIndex.Run) {
        self.run = run
        nextSeq = run.firstSeq
    }

    var isComplete: Bool { isSorted && written == rows.count }

    /// Does up to `budget` rows of the run's work in the open transaction; true once the run is
    /// completely in `key_runs` (its range row included).
    mutating func advance(budget: Int, keys: IdempotencyKeys) throws(StoreError) -> Bool {
        var budget = max(budget, 1)
        while budget > 0, !isSorted {
            let asked = budget
            let read = try keys.runRows(from: nextSeq, through: run.lastSeq, limit: asked)
            rows.append(contentsOf: read)
            budget -= read.count
            if read.count == asked, let last = read.last, last.seq < run.lastSeq {
                nextSeq = last.seq + 1  // more to read, in the next batch
            } else {
                rows.sort { $0.hash != $1.hash ? $0.hash < $1.hash : $0.seq < $1.seq }
                isSorted = true
            }
        }
        guard isSorted else { return false }
        let end = min(rows.count, written + budget)
        if end > written {
            try keys.appendToRun(run.id, rows[written..<end])
            written = end
        }
        guard written == rows.count else { return false }
        try keys.recordRange(of: run)
        return true
    }
}
