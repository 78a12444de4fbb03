/// How the store finds an idempotency key, with memory that does not grow with every key ever
/// seen (about 1.2 bytes a key for the filter, plus a bounded map of the newest keys):
///
/// - `recent`: the keys recorded since the last run, hash → seq, in memory (at most about
///   `runSize` of them). Redeliveries, the common repeats, are found here.
/// - `runs`: older keys, in runs of `key_runs` (one B-tree segment per run, written once, sorted
///   by hash — appending a run writes few pages, unlike an index updated key by key).
/// - `filter`: a Bloom filter over every key, so that a new key (the common case) costs no read;
///   only a possible repeat is looked up in the runs, newest first.
///
/// The stored row (`idempotency_keys`) always decides: hashes only find candidates.
struct KeyIndex {
    /// A run: the keys with seq in `firstSeq...lastSeq`, stored in `key_runs` under `id`.
    struct Run: Equatable {
        var id: Int64
        var firstSeq: Int64
        var lastSeq: Int64

        /// The run after `previous` (numbered one higher), of the keys `firstSeq...lastSeq`.
        static func following(_ previous: Run?, from firstSeq: Int64, through lastSeq: Int64) -> Run {
            Run(id: (previous?.id ?? 0) + 1, firstSeq: firstSeq, lastSeq: lastSeq)
        }
    }

    var recent = RecentKeys()
    var filter: KeyFilter
    /// Oldest first.
    private(set) var runs: [Run]
    /// Keys with a seq up to this one are in `runs` (or pruned); newer ones are in `recent`.
    private(set) var indexedThrough: Int64
    /// A run written in the open transaction, taken over at its commit.
    private var writtenRun: Run?

    init(filter: KeyFilter, runs: [Run]) {
        self.filter = filter
        self.runs = runs
        indexedThrough = runs.last?.lastSeq ?? 0
    }

    /// Records a new key (in `recent` until the next run, and in the filter).
    mutating func insert(_ hash: Int64, seq: Int64) {
        recent.insert(hash, seq: seq)
        filter.insert(hash)
    }

    /// The next run: the keys after `indexedThrough` up to `lastSeq`.
    func nextRun(through lastSeq: Int64) -> Run { Run.following(runs.last, from: indexedThrough + 1, through: lastSeq) }

    /// `run` has been written in the open transaction.
    mutating func wrote(_ run: Run) { writtenRun = run }

    mutating func commit() {
        recent.commit()
        if let run = writtenRun {
            runs.append(run)
            indexedThrough = run.lastSeq
            recent.dropThrough(run.lastSeq)
            writtenRun = nil
        }
    }

    mutating func rollBack() {
        recent.rollBack()
        writtenRun = nil
    }

    /// Forgets the runs whose keys were all pruned (up to `seq`), once the prune has committed.
    mutating func forgetRuns(through seq: Int64) { runs.removeAll { $0.lastSeq <= seq } }
}

/// Hash → the seqs of the recent keys with that hash. One plain dictionary entry per key; the
/// rare second key with the same 64-bit hash goes to `more`. Changes since the last `commit`
/// are tracked, to undo on rollback.
struct RecentKeys {
    private var first: [Int64: Int64] = [:]
    private var more: [Int64: [Int64]] = [:]
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

    /// Keeps only the keys after `seq` (the older ones went into a run).
    mutating func dropThrough(_ seq: Int64) {
        var kept = RecentKeys()
        for (hash, firstSeq) in first {
            for candidate in [firstSeq] + (more[hash] ?? []) where candidate > seq {
                kept.insert(hash, seq: candidate, tracked: false)
            }
        }
        kept.added = added.filter { $0.seq > seq }
        self = kept
    }

    mutating func commit() { added.removeAll(keepingCapacity: true) }

    mutating func rollBack() {
        for row in added.reversed() { forget(row.hash, row.seq) }
        added.removeAll(keepingCapacity: true)
    }
}
