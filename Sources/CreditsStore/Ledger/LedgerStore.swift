import CreditsCore

/// The durable ledger: applies batches of decoded inputs through the ledger rules in one SQLite
/// transaction each (entries, balances, idempotency keys, outbox and consumed offsets together),
/// so every input is applied exactly once across crashes.
///
/// Confined to one thread or task at a time: it owns a write connection and a cache of the
/// customers it has touched.
public final class LedgerStore {
    /// Tuning of the SQLite connection.
    public struct Options: Sendable {
        /// `synchronous=FULL` (the default): every committed batch is synced to disk before its
        /// output is produced, so not even a power loss takes back a batch whose events are out.
        /// `false` gives `NORMAL` in WAL mode: durable across process crashes, but an OS crash or
        /// power loss may lose the last batches (never corrupting the file).
        public var synchronousFull = true
        /// Page cache in KiB.
        public var cacheKiB = 65_536
        /// Customers kept in memory between batches.
        public var customerCacheLimit = 200_000
        /// Idempotency keys kept in memory (about 35 bytes each) before they are written as a
        /// sorted run on disk; see `KeyIndex`.
        public var keyRunSize = 262_144
        /// Rows of a run's reading and writing done per batch (`PendingKeyRun`): a run is spread
        /// over about 2 × keyRunSize / keyRunSliceRows batches instead of holding one up.
        public var keyRunSliceRows = 8_192
        /// Batches with at least this many output messages have them encoded on another thread
        /// while the batch is written and committed (`EarlyEncoding`); smaller ones, the latency
        /// path, are encoded when they are produced.
        public var earlyEncodingMinimum = 256

        public init() {}
    }

    private let lock: StoreLock
    let connection: SQLiteConnection
    let ledger: Ledger
    private let options: Options
    /// Customers read or changed since the cache was last cleared, changed in place.
    var customers: [String: CachedCustomer] = [:]
    var keyIndex: KeyIndex
    /// The run being written a slice per batch, if any.
    private var pendingRun: PendingKeyRun?
    /// The next row numbers of the append-only tables (assigned by the store, written per batch).
    var sequences: Sequences

    struct Sequences {
        var entry: Int64
        var key: Int64
        var outbox: Int64
    }

    /// Opens (creating if needed) the store at `path` and brings its schema up to date. Takes an
    /// exclusive lock on the file first: a store another process writes is refused, naming it.
    public init(path: String, ledger: Ledger, options: Options = Options()) throws(StoreError) {
        lock = try StoreLock(storePath: path)
        connection = try SQLiteConnection(path: path)
        self.ledger = ledger
        self.options = options
        try connection.execute(
            """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=\(options.synchronousFull ? "FULL" : "NORMAL");
            PRAGMA cache_size=-\(options.cacheKiB);
            PRAGMA temp_store=MEMORY;
            PRAGMA foreign_keys=OFF;
            """)
        try Migrations.migrate(connection)
        sequences = Sequences(
            entry: try EntryRecords(connection: connection).maxSeq() + 1,
            key: try IdempotencyKeys(connection: connection).maxSeq() + 1,
            outbox: try Outbox(connection: connection).maxSeq() + 1)
        keyIndex = try IdempotencyKeys(connection: connection).loadIndex(runSize: options.keyRunSize)
    }

    /// Gives up the store's lock, so that another `LedgerStore` may open the file; this one must
    /// not be used afterwards. Done anyway when the store goes away.
    public func close() { lock.release() }

    /// Idempotency keys held in memory (the newest ones; older ones are in runs on disk).
    public var recentKeyCount: Int { keyIndex.recent.count }

    /// Runs of idempotency keys on disk, and the bytes of the in-memory filter over all keys.
    public var keyIndexFigures: (runs: Int, filterBytes: Int) { (keyIndex.runs.count, keyIndex.filter.byteCount) }

    // MARK: Applying inputs

    /// Applies a batch of inputs in order, in one transaction, and records for each partition
    /// the offset after its last message. Either all of it is stored or none.
    @discardableResult
    public func apply(_ batch: [InboundMessage], at now: Timestamp) throws(StoreError) -> BatchReport {
        try apply(count: batch.count, at: now) { batch[$0] }
    }

    /// Applies each message as soon as it is decoded (the rest are decoded meanwhile).
    public var appliesWhileDecoding: Bool { true }

    public func apply<Note>(decoding batch: DecodingBatch<Note>, at now: Timestamp) throws(StoreError) -> BatchReport {
        try apply(count: batch.count, at: now) { batch.message(at: $0) }
    }

    /// The batch of `count` messages that `message` gives, in order, in one transaction.
    private func apply(
        count: Int, at now: Timestamp, _ message: (Int) -> InboundMessage
    ) throws(StoreError) -> BatchReport {
        var encoding: EarlyEncoding?
        var report = try inTransaction { () throws(StoreError) in
            try advanceKeyRun()
            var work = BatchWork(now: now, firstKeySeq: sequences.key)
            var offsets: [TopicPartition: Int64] = [:]
            for index in 0..<count {
                let message = message(index)
                let partition = TopicPartition(topic: message.origin.topic, partition: message.origin.partition)
                offsets[partition] = max(offsets[partition] ?? 0, message.origin.offset + 1)
                try apply(message, work: &work)
            }
            // The messages so far are final: encoded on another core while the batch is written
            // and committed on this one.
            if work.outbox.count >= options.earlyEncodingMinimum { encoding = EarlyEncoding(work.outbox) }
            for (partition, next) in offsets {
                try ConsumerOffsets(connection: connection).save(partition, nextOffset: next)
            }
            try finish(&work)
            work.report.outbox = work.outbox
            work.report.nextOffsets = offsets
            return work.report
        }
        encoding?.replace(in: &report.outbox)
        return report
    }

    /// Does what is due by `now` for every customer with a deadline then (`Ledger.fireDeadlines`).
    @discardableResult
    public func fireDueDeadlines(at now: Timestamp) throws(StoreError) -> BatchReport {
        try inTransaction { () throws(StoreError) in
            var work = BatchWork(now: now, firstKeySeq: sequences.key)
            let due = try CustomerRecords(connection: connection).dueDeadlines(at: now)
            for customerID in due {
                let customer = try customer(customerID, work: &work)
                var transition = ledger.fireDeadlines(for: customer.stored.account, at: now)
                try record(&transition, for: customer, work: &work)
            }
            try finish(&work)
            work.report.deadlinesFired = due.count
            work.report.outbox = work.outbox
            return work.report
        }
    }

    /// Live calls and held credits over all customers.
    public func liveCallTotals() throws(StoreError) -> LiveCallTotals {
        try CustomerRecords(connection: connection).liveCallTotals()
    }

    /// Customers with credits enabled per block state name (`active`, `grace`, `blocked`).
    public func blockStateCounts() throws(StoreError) -> [String: Int] {
        try CustomerRecords(connection: connection).blockStateCounts()
    }

    /// Forgets the idempotency keys recorded before `cutoff` (the optional key retention). A
    /// repeat of such a key is applied again, so the retention must outlast any redelivery.
    @discardableResult
    public func pruneIdempotencyKeys(recordedBefore cutoff: Timestamp) throws(StoreError) -> Int {
        // Not while a run is half-written: it would index keys that are gone. The next prune does it.
        guard pendingRun == nil else { return 0 }
        let pruned = try inTransaction { () throws(StoreError) in
            try IdempotencyKeys(connection: connection).prune(recordedBefore: cutoff)
        }
        // Only after the commit: a key still in the store must never be missing from the index.
        for row in pruned.keys { keyIndex.recent.remove(row.hash, seq: row.seq) }
        keyIndex.forgetRuns(through: pruned.through)
        keyIndex.commit()
        return pruned.keys.count
    }

    /// The earliest deadline still pending (a grace period's end, a call hold's expiry).
    public func nextDeadline() throws(StoreError) -> Timestamp? {
        try CustomerRecords(connection: connection).nextDeadline()
    }

    // MARK: Outbox and offsets

    /// Output messages not yet acknowledged, oldest first, after `seq`.
    public func pendingOutbox(after seq: Int64 = 0, limit: Int = 10_000) throws(StoreError) -> [OutboxRecord] {
        let records = try Outbox(connection: connection).pending(after: seq, limit: limit)
        return records + (try OutboxRecord.accountStatesRebuilt(for: records, states: accountStates(of:)))
    }

    /// Forgets the outbox messages up to and including `seq`: the broker has them.
    public func markDelivered(through seq: Int64) throws(StoreError) {
        try Outbox(connection: connection).delete(through: seq)
    }

    /// Messages in the outbox.
    public func outboxDepth() throws(StoreError) -> Int { try Outbox(connection: connection).count() }

    /// Forgets the consumed offsets: for a broker whose logs started afresh (the embedded one),
    /// where the old offsets mean nothing. Idempotency keys stay, so repeats are still caught.
    public func forgetConsumedOffsets() throws(StoreError) {
        try connection.execute("DELETE FROM consumer_offsets")
    }

    /// The next offset to consume for every partition this store has applied messages from.
    public func consumedOffsets() throws(StoreError) -> [TopicPartition: Int64] {
        try ConsumerOffsets(connection: connection).all()
    }

    /// The state of one customer, or nil if the store has never seen it.
    public func account(_ customerID: String) throws(StoreError) -> CustomerAccount? {
        if let cached = customers[customerID] { return cached.stored.account }
        return try CustomerRecords(connection: connection).load(customerID)?.account
    }

    /// The current `credits.accounts` state of each known customer in `customerIDs`, in order,
    /// from memory when cached. Its time is when the account last changed, so a state rebuilt
    /// after a crash is the same message.
    public func accountStates(of customerIDs: some Collection<String>) throws(StoreError) -> [AccountState] {
        var states: [AccountState] = []
        states.reserveCapacity(customerIDs.count)
        let now = WallClock.now()
        for customerID in customerIDs {
            guard let account = try account(customerID) else { continue }
            states.append(AccountState(newestOf: account, otherwise: now))
        }
        return states
    }

    // MARK: Internals (the per-input steps are in LedgerStore+Inputs.swift)

    struct BatchWork {
        let now: Timestamp
        var report = BatchReport()
        /// Customers changed in this batch, in order (their new state is in the cache), and the
        /// position of each by customer number.
        var dirty: [ChangedCustomer] = []
        var dirtyIndex: [Int64: Int] = [:]
        var outbox: [OutboxRecord] = []
        var pending: PendingWrites

        init(now: Timestamp, firstKeySeq: Int64) {
            self.now = now
            pending = PendingWrites(firstKeySeq: firstKeySeq)
        }
    }

    /// A customer a batch changed, and whether its account state is to be published.
    struct ChangedCustomer {
        let customer: CachedCustomer
        /// Its account changed (its version grew): one `credits.accounts` message, with the state
        /// after the batch, once the batch's other events are out (coalesced per batch).
        var accountChanged = false
        /// The batch wrote another outbox row about it: its account message needs no row of its
        /// own (it is rebuilt from that row after a crash; see `BatchReport.changedAccounts`).
        var hasRows = false
    }

    private func inTransaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        if customers.count > options.customerCacheLimit { customers.removeAll(keepingCapacity: true) }
        let first = sequences
        let firstPendingRun = pendingRun
        do {
            let value = try connection.transaction(body)
            keyIndex.commit()
            return value
        } catch {
            // The caches may hold changes that were rolled back.
            customers.removeAll()
            keyIndex.rollBack()
            sequences = first
            pendingRun = firstPendingRun
            throw error
        }
    }

    /// Moves the keys in memory to a run on disk once there are `keyRunSize` of them, a slice per
    /// batch (in the batch's transaction; the index takes the run over at the commit of its last
    /// slice).
    private func advanceKeyRun() throws(StoreError) {
        if pendingRun == nil, keyIndex.recent.count >= options.keyRunSize {
            pendingRun = PendingKeyRun(keyIndex.nextRun(through: sequences.key - 1))
        }
        guard var pending = pendingRun else { return }
        pendingRun = nil
        if try pending.advance(budget: options.keyRunSliceRows, keys: IdempotencyKeys(connection: connection)) {
            keyIndex.wrote(pending.run)
        } else {
            pendingRun = pending
        }
    }

    private func finish(_ work: inout BatchWork) throws(StoreError) {
        var withoutRows: [String] = []
        for item in work.dirty where item.accountChanged {
            if item.hasRows {
                withoutRows.append(item.customer.stored.account.customerID)
            } else {
                let state = AccountState(newestOf: item.customer.stored.account, otherwise: work.now)
                try emit(.account(state), work: &work)
            }
        }
        work.report.changedAccounts = withoutRows
        var firstGrants: [Int64: Int64] = [:]
        if !work.pending.grants.isEmpty {
            for item in work.dirty { firstGrants[item.customer.num] = item.customer.stored.account.grants.active.first?.entryID }
        }
        try work.pending.flush(to: connection) { firstGrants[$0] }
        try CustomerRecords(connection: connection).updateAll(work.dirty.map(\.customer))
    }

    func customer(_ customerID: String, work: inout BatchWork) throws(StoreError) -> CachedCustomer {
        if let cached = customers[customerID] { return cached }
        let records = CustomerRecords(connection: connection)
        let loaded: CustomerRecords.Stored
        if let stored = try records.load(customerID) {
            loaded = stored
        } else {
            let account = CustomerAccount.new(customerID)
            loaded = CustomerRecords.Stored(num: try records.insert(account), account: account, lastEntrySeq: nil)
        }
        let cached = CachedCustomer(loaded)
        customers[customerID] = cached
        return cached
    }

}

/// A customer in the store's cache. A reference, so that applying an input changes it in place
/// rather than copying the whole account out of the cache and back; a failed batch clears the
/// cache (`inTransaction`), so no change of a rolled-back batch stays.
final class CachedCustomer {
    var stored: CustomerRecords.Stored

    init(_ stored: CustomerRecords.Stored) { self.stored = stored }

    var num: Int64 { stored.num }
    var account: CustomerAccount { stored.account }
}
