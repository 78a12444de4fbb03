import CreditsCore
import CreditsStore
import Logging
import NIOCore
import PostgresNIO

/// The ledger in one PostgreSQL database shared by several instances of the service. Kafka's
/// consumer group gives each instance some input partitions; this store makes sure only the
/// current owner of a partition changes what follows from it:
///
/// - **Fencing.** Taking a partition (`own`) raises its epoch (`PartitionEpochs`); every
///   transaction that writes for a partition (a batch of its input, a firing of its customers'
///   deadlines) first finds the epoch this instance took, and holds it until it commits. Once
///   another instance has taken the partition (this one was paused, cut off, or slower than its
///   session), the transaction rolls back and throws `StoreError.isFenced`: nothing of it is
///   stored or published. A batch also advances its partitions' stored next offsets with a
///   compare-and-set against the positions this instance read when it took them.
/// - **Fresh state.** Customers are read per batch with `SELECT … FOR UPDATE`, and idempotency
///   keys per batch through the primary key: nothing is cached between batches, so nothing goes
///   stale when partitions move, and memory does not grow with the keys ever seen.
/// - **Outbox and timers per partition.** Every output row carries its input partition; the
///   owner publishes its partitions' rows in order and fires their customers' grace deadlines.
///
/// Confined to one thread (the pipeline's).
public final class PostgresLedgerStore: LedgerWriter {
    private let session: PostgresSession
    private let ledger: Ledger
    private let url: PostgresStoreURL
    /// Owned input partitions and the next offset this instance expects to apply from each.
    private var positions: [TopicPartition: Int64] = [:]
    /// The epochs this instance took its partitions at.
    private var epochs = PartitionEpochs()
    private var ownedNumbers: [Int32] = []
    /// Per owned partition, the highest outbox seq handed to the caller since the partition was
    /// taken: a delivered mark forgets a partition's rows only up to there. The outbox seq is
    /// global, so a mark from other partitions' rows says nothing of a row this instance has not
    /// read. Below there, every row of the partition is one this instance handed over: rows of
    /// earlier owners were committed before it took the partition (taking waits for them) and
    /// read by its rescan, and no other instance writes for the partition while it holds it.
    private var handedThrough: [Int32: Int64] = [:]

    private let options: Options

    /// How the store writes a batch.
    public struct Options: Sendable {
        /// A batch of at least this many messages is planned and written in parts (up to
        /// `maximumParts`, each a set of whole customers): while the database writes one part,
        /// this instance plans the next, instead of each waiting for the other. One transaction
        /// all the same. Smaller batches (the latency path) are planned whole.
        public var partedBatchMinimum = 1_000
        /// The most parts a batch is written in.
        public var maximumParts = 4

        public init() {}
    }

    /// Connects, and brings the schema up to date (once, whichever instance comes first).
    public init(url: PostgresStoreURL, ledger: Ledger, logger: Logger, options: Options = Options()) throws(StoreError) {
        self.url = url
        self.ledger = ledger
        self.options = options
        session = PostgresSession(url: url, role: "writer", logger: logger)
        try PostgresMigrations.migrate(session)
    }

    public var isShared: Bool { true }

    public var summary: String { "PostgreSQL at \(url), shared; fenced per partition by ownership epoch" }

    public func close() { session.close() }

    // MARK: Partitions

    /// Takes `partitions` (their epochs raised: whoever had them commits nothing more for them)
    /// and reads their positions, in one transaction.
    public func own(_ partitions: [TopicPartition]) throws(StoreError) -> [TopicPartition: Int64] {
        var owned: [TopicPartition: Int64] = [:]
        var taking = PartitionEpochs()
        if !partitions.isEmpty {
            owned = try session.transaction { () throws(StoreError) -> [TopicPartition: Int64] in
                try taking.take(partitions, session: session)
                let rows = try session.query(
                    """
                    SELECT topic, partition, next_offset FROM partition_positions
                    WHERE (topic, partition) IN (SELECT * FROM unnest(\(partitions.map(\.topic))::text[], \(partitions.map(\.partition))::int[]))
                    """, "reading partition positions")
                return try Self.positions(rows)
            }
        }
        epochs = taking
        positions = Dictionary(uniqueKeysWithValues: partitions.map { ($0, owned[$0] ?? 0) })
        ownedNumbers = Array(Set(partitions.map(\.partition))).sorted()
        // Nothing of the partitions is handed over yet under this ownership: the caller reads
        // their outbox afresh.
        handedThrough = [:]
        return owned
    }

    /// Keeps `handedThrough`: the rows handed over before stay forgettable once delivered (no
    /// other writer's row of those partitions lies below them).
    public func release() {
        positions = [:]
        epochs = PartitionEpochs()
        ownedNumbers = []
    }

    public func consumedOffsets() throws(StoreError) -> [TopicPartition: Int64] {
        try Self.positions(session.query("SELECT topic, partition, next_offset FROM partition_positions", "reading positions"))
    }

    /// Rows of `topic, partition, next_offset` as positions.
    private static func positions(_ rows: PostgresQueryResult) throws(StoreError) -> [TopicPartition: Int64] {
        var positions: [TopicPartition: Int64] = [:]
        for row in rows {
            let columns = PostgresColumns(row)
            positions[try columns.topicPartition()] = try columns.int(2)
        }
        return positions
    }

    public func forgetConsumedOffsets() throws(StoreError) {
        try session.query("DELETE FROM partition_positions", "forgetting positions")
        positions = positions.mapValues { _ in 0 }
    }

    // MARK: Applying

    public func apply(_ batch: [InboundMessage], at now: Timestamp) throws(StoreError) -> BatchReport {
        var next: [TopicPartition: Int64] = [:]
        for message in batch {
            let partition = TopicPartition(topic: message.origin.topic, partition: message.origin.partition)
            next[partition] = max(next[partition] ?? 0, message.origin.offset + 1)
        }
        let partitions = next.keys.sorted()
        var report = try session.transaction { () throws(StoreError) -> BatchReport in
            // The fences, the customers' lock and the key lookup go out together, one wait for all.
            let owners = try epochs.sendCheck(partitions, session: session)
            let fence = try sendFence(next, partitions: partitions)
            let lock = try sendLock(BatchPlan.customerIDs(of: batch))
            let keys = try sendKeyLookup(BatchPlan.keys(of: batch))
            let results = try session.settle()
            if let owners { try epochs.check(results[owners], partitions: partitions) }
            if let fence { try checkFence(results[fence], partitions: partitions) }
            var customers: [String: CustomerAccount] = [:]
            if let lock { customers = try lockedCustomers(results[lock]) }
            var stored: [BatchPlan.KeyID: BatchPlan.StoredKey] = [:]
            if let keys { stored = try storedKeys(results[keys]) }
            var plan = BatchPlan(ledger: ledger, now: now, customers: customers, storedKeys: stored)
            let parts = batch.count >= options.partedBatchMinimum ? options.maximumParts : 1
            var written = Written()
            for part in Self.parts(of: batch, count: parts) {
                plan.apply(part)
                try send(plan, after: &written)
            }
            return try finish(plan, written)
        }
        positions.merge(next) { _, new in new }
        report.nextOffsets = next
        return report
    }

    public func nextDeadline() throws(StoreError) -> Timestamp? {
        guard !ownedNumbers.isEmpty else { return nil }
        // The earliest of each partition's first index entry: `min` over `partition = ANY(…)`
        // read every pending deadline of the partitions instead.
        let rows = try session.query(
            """
            SELECT min(d.next_deadline) FROM unnest(\(ownedNumbers)::int[]) AS p(n)
            CROSS JOIN LATERAL (
                SELECT next_deadline FROM customers WHERE partition = p.n AND next_deadline IS NOT NULL
                ORDER BY next_deadline LIMIT 1) d
            """, "reading the next deadline")
        guard let row = rows.first, let at = try PostgresColumns(row).optionalInt(0) else { return nil }
        return Timestamp(millisecondsSinceEpoch: at)
    }

    public func fireDueDeadlines(at now: Timestamp) throws(StoreError) -> BatchReport {
        guard !ownedNumbers.isEmpty else { return BatchReport() }
        return try session.transaction { () throws(StoreError) -> BatchReport in
            try epochs.confirm(positions.keys.sorted(), session: session)
            let rows = try session.query(
                """
                SELECT \(unescaped: PostgresRecords.customerSelect) FROM customers
                WHERE next_deadline <= \(now.millisecondsSinceEpoch) AND partition = ANY(\(ownedNumbers)::int[])
                ORDER BY next_deadline, customer_id FOR UPDATE
                """, "reading customers with a deadline due")
            var customers: [String: CustomerAccount] = [:]
            var partitions: [String: Int32] = [:]
            var due: [String] = []
            for row in rows {
                let columns = PostgresColumns(row)
                partitions[try columns.string(0)] = Int32(try columns.int(1))
            }
            for account in try PostgresRecords.accounts(from: rows, session: session) {
                customers[account.customerID] = account
                due.append(account.customerID)
            }
            var plan = BatchPlan(ledger: ledger, now: now, customers: customers, storedKeys: [:])
            plan.fireDeadlines(due, partitions: partitions)
            var written = Written()
            try send(plan, after: &written)
            return try finish(plan, written)
        }
    }

    /// Sends the fence's statement for `partitions` (the keys of `next`, in order; nil when there
    /// are none); `checkFence` reads it.
    private func sendFence(_ next: [TopicPartition: Int64], partitions: [TopicPartition]) throws(StoreError) -> Int? {
        guard !partitions.isEmpty else { return nil }
        let expected = partitions.map { positions[$0] ?? 0 }
        return try session.send(
            """
            INSERT INTO partition_positions AS p (topic, partition, next_offset)
            SELECT * FROM unnest(\(partitions.map(\.topic))::text[], \(partitions.map(\.partition))::int[],
                                 \(partitions.map { next[$0] ?? 0 })::bigint[])
            ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset
            WHERE p.next_offset = (SELECT e FROM unnest(\(partitions.map(\.topic))::text[], \(partitions.map(\.partition))::int[],
                                                        \(expected)::bigint[]) AS x(t, n, e)
                                   WHERE x.t = p.topic AND x.n = p.partition)
            RETURNING topic, partition
            """, "advancing partition positions")
    }

    /// Throws `fenced` unless the fence advanced every one of `partitions`.
    private func checkFence(_ rows: PostgresQueryResult, partitions: [TopicPartition]) throws(StoreError) {
        guard rows.count < partitions.count else { return }
        var advanced = Set<TopicPartition>()
        for row in rows { advanced.insert(try PostgresColumns(row).topicPartition()) }
        let moved = partitions.filter { !advanced.contains($0) }
        throw StoreError(
            code: StoreError.fencedCode,
            message: "another instance applied \(moved.map(\.description).joined(separator: ", ")) "
                + "after this one read its position; the batch was rolled back",
            context: "fencing", backend: "PostgreSQL")
    }

    /// Sends the read of the batch's customers, locked until the transaction ends (nil when the
    /// batch names none); `lockedCustomers` reads it.
    private func sendLock(_ ids: [String]) throws(StoreError) -> Int? {
        guard !ids.isEmpty else { return nil }
        return try session.send(
            """
            SELECT \(unescaped: PostgresRecords.customerSelect) FROM customers
            WHERE customer_id = ANY(\(ids)::text[]) ORDER BY customer_id FOR UPDATE
            """, "reading the batch's customers")
    }

    /// The batch's customers as stored (absent: new).
    private func lockedCustomers(_ rows: PostgresQueryResult) throws(StoreError) -> [String: CustomerAccount] {
        var customers: [String: CustomerAccount] = [:]
        for account in try PostgresRecords.accounts(from: rows, session: session) { customers[account.customerID] = account }
        return customers
    }

    /// Sends the lookup of the batch's idempotency keys (nil when it has none); `storedKeys` reads it.
    private func sendKeyLookup(_ keys: [BatchPlan.KeyID]) throws(StoreError) -> Int? {
        guard !keys.isEmpty else { return nil }
        return try session.send(Self.keyLookup(keys), "looking up idempotency keys")
    }

    /// The lookup of `keys` in `idempotency_keys`: one probe of the primary key per key. As a
    /// plain join, the planner hashed a large batch's keys and read the whole table until it held
    /// about half a million keys (for 5 000 keys: 63 – 72 ms at 200 000 stored, 122 ms at
    /// 400 000, against 15 – 26 ms of probes; `scripts/key-lookup-plans.sh`). The `LIMIT 1` keeps
    /// the lateral subquery from being merged into a join: one index probe per key, whatever the
    /// table's size and statistics.
    static func keyLookup(_ keys: [BatchPlan.KeyID]) -> PostgresQuery {
        """
        SELECT k.customer_id, k.kind, k.key, k.digest, k.status, k.reason, k.entry_id
        FROM unnest(\(keys.map(\.customerID))::text[], \(keys.map(\.kind.rawValue))::smallint[], \(keys.map(\.key))::text[])
             AS b(customer_id, kind, key)
        CROSS JOIN LATERAL (
            SELECT * FROM idempotency_keys i
            WHERE i.customer_id = b.customer_id AND i.kind = b.kind AND i.key = b.key
            LIMIT 1) k
        """
    }

    /// The batch's idempotency keys that are stored already.
    private func storedKeys(_ rows: PostgresQueryResult) throws(StoreError) -> [BatchPlan.KeyID: BatchPlan.StoredKey] {
        var found: [BatchPlan.KeyID: BatchPlan.StoredKey] = [:]
        for row in rows {
            let columns = PostgresColumns(row)
            let id = BatchPlan.KeyID(
                customerID: try columns.string(0),
                kind: BatchPlan.KeyKind(rawValue: Int16(try columns.int(1))) ?? .usage,
                key: try columns.string(2))
            found[id] = BatchPlan.StoredKey(
                digest: try columns.bytes(3), status: try columns.int(4) == 0 ? .applied : .rejected,
                reason: try columns.optionalString(5), entryID: try columns.optionalInt(6))
        }
        return found
    }

    /// `batch` in up to `count` parts, each with the inputs of a set of whole customers in the
    /// batch's order (an input naming no customer goes by its Kafka key, so that the outputs of
    /// one key keep their order): what a part's plan changes no later part reads.
    static func parts(of batch: [InboundMessage], count: Int) -> [[InboundMessage]] {
        guard count > 1 else { return [batch] }
        var parts = Array(repeating: [InboundMessage](), count: count)
        for message in batch {
            // The same part in every process.
            let hash = Fingerprint.of(BatchPlan.customerID(of: message) ?? message.origin.key ?? "")
            parts[Int(Fingerprint.spread(UInt64(bitPattern: hash)) % UInt64(count))].append(message)
        }
        return parts.filter { !$0.isEmpty }
    }

    /// How much of a plan has been sent to the database, and the outbox inserts to read back.
    private struct Written {
        var changed = 0
        var entries = 0
        var audits = 0
        var grantChanges = 0
        var newKeys = 0
        var outputs = 0
        /// Per outbox insert: its place among the results of the next `settle`, and its outputs.
        var outboxInserts: [(position: Int, outputs: Range<Int>)] = []
        var messages: [OutboundMessage] = []
    }

    /// Sends the rows `plan` has made since `written` (what the previous parts made is sent
    /// already; they were about other customers), without waiting for them: the connection runs
    /// them in order while the caller plans on.
    private func send(_ plan: BatchPlan, after written: inout Written) throws(StoreError) {
        let changed = plan.changed[written.changed...].compactMap { id in
            plan.customers[id].map { ($0, plan.partitions[id] ?? 0) }
        }
        try session.send(
            changed, into: "customers", columns: PostgresRecords.customerColumns,
            suffix: PostgresRecords.customerUpsert
        ) { PostgresRecords.values($0.0, partition: $0.1) }
        try session.send(
            Array(plan.entries[written.entries...]), into: "entries", columns: PostgresRecords.entryColumns,
            values: PostgresRecords.values)
        try session.send(
            Array(plan.audits[written.audits...]), into: "audit", columns: PostgresRecords.auditColumns,
            values: PostgresRecords.values)
        try PostgresRecords.write(
            grants: Array(plan.grantChanges[written.grantChanges...]),
            first: { plan.customers[$0]?.grants.active.first?.entryID }, session: session)
        let recordedAt = plan.now.millisecondsSinceEpoch
        try session.send(
            Array(plan.newKeys[written.newKeys...]), into: "idempotency_keys",
            columns: ["customer_id", "kind", "key", "digest", "status", "reason", "entry_id", "recorded_at"]
        ) {
            [
                .text($0.id.customerID), .int(Int64($0.id.kind.rawValue)), .text($0.id.key), .bytes($0.stored.digest),
                .int($0.stored.status == .applied ? 0 : 1), .text($0.stored.reason), .int($0.stored.entryID), .int(recordedAt),
            ]
        }
        let outputs = written.outputs..<plan.outputs.count
        let rows = plan.outputs[outputs].map { (partition: $0.partition, message: $0.event.message) }
        if let position = try PostgresOutbox.sendInsert(rows, session: session) {
            written.outboxInserts.append((position, outputs))
        }
        written.messages += rows.map(\.message)
        written.changed = plan.changed.count
        written.entries = plan.entries.count
        written.audits = plan.audits.count
        written.grantChanges = plan.grantChanges.count
        written.newKeys = plan.newKeys.count
        written.outputs = plan.outputs.count
    }

    /// Waits for everything sent; returns the plan's report with its outbox records and their seqs.
    private func finish(_ plan: BatchPlan, _ written: Written) throws(StoreError) -> BatchReport {
        let results = try session.settle()
        var report = plan.report
        report.outbox.reserveCapacity(written.messages.count)
        for insert in written.outboxInserts {
            // A part's messages in the order of their seqs (grouped by partition); parts are
            // inserted one after another, so the report's seqs keep growing.
            let partitions = insert.outputs.map { plan.outputs[$0].partition }
            let seqs = try PostgresOutbox.seqs(ofPartitions: partitions, inserted: results[insert.position])
            for (seq, index) in zip(seqs, insert.outputs).sorted(by: { $0.0 < $1.0 }) {
                // Handed over as the text just stored: the publisher does not encode it a second time.
                report.outbox.append(OutboxRecord(seq: seq, event: .encoded(written.messages[index])))
                handed(plan.outputs[index].partition, seq)
            }
        }
        return report
    }

    private func handed(_ partition: Int32, _ seq: Int64) {
        handedThrough[partition] = max(handedThrough[partition] ?? 0, seq)
    }

    // MARK: Outbox and housekeeping

    public func pendingOutbox(after seq: Int64, limit: Int) throws(StoreError) -> [OutboxRecord] {
        guard !ownedNumbers.isEmpty else { return [] }
        var records: [OutboxRecord] = []
        for pending in try PostgresOutbox.pending(after: seq, limit: limit, partitions: ownedNumbers, session: session) {
            handed(pending.partition, pending.seq)
            guard let message = pending.message else { continue }
            records.append(OutboxRecord(seq: pending.seq, event: .encoded(message)))
        }
        return records + (try OutboxRecord.accountStatesRebuilt(for: records, states: accountStates(of:)))
    }

    /// Forgets, per owned partition, the rows up to `seq` that were handed over under the current
    /// ownership (`handedThrough`); rows of that partition this instance has not read stay.
    public func markDelivered(through seq: Int64) throws(StoreError) {
        let cutoffs = handedThrough.map { (partition: $0.key, through: min($0.value, seq)) }.sorted {
            $0.partition < $1.partition
        }
        try PostgresOutbox.forget(cutoffs, session: session)
    }

    public func outboxDepth() throws(StoreError) -> Int { try PostgresQueries.outboxDepth(session) }

    public func blockStateCounts() throws(StoreError) -> [String: Int] {
        try PostgresQueries.blockStateCounts(session)
    }

    public func liveCallTotals() throws(StoreError) -> LiveCallTotals {
        let rows = try session.query(
            "SELECT coalesce(sum(live_calls), 0)::bigint, coalesce(sum(held), 0)::bigint FROM customers WHERE live_calls > 0",
            "summing live calls")
        guard let row = rows.first else { return LiveCallTotals(calls: 0, held: .zero) }
        let columns = PostgresColumns(row)
        return LiveCallTotals(calls: Int(try columns.int(0)), held: CreditAmount(micros: try columns.int(1)))
    }

    /// The states of `BatchReport.changedAccounts`, read when they are due (one query), and of
    /// the customers the outbox rows left after a crash name.
    public func accountStates(of customerIDs: some Collection<String>) throws(StoreError) -> [AccountState] {
        guard !customerIDs.isEmpty else { return [] }
        let ids = Array(customerIDs)
        let rows = try session.query(
            """
            SELECT \(unescaped: PostgresRecords.customerSelect) FROM customers WHERE customer_id = ANY(\(ids)::text[])
            """, "reading account states")
        var accounts: [String: CustomerAccount] = [:]
        for account in try PostgresRecords.accounts(from: rows, session: session) { accounts[account.customerID] = account }
        let now = WallClock.now()
        return ids.compactMap { id in accounts[id].map { AccountState(newestOf: $0, otherwise: now) } }
    }

    public func pruneIdempotencyKeys(recordedBefore cutoff: Timestamp) throws(StoreError) -> Int {
        let result = try session.query(
            "DELETE FROM idempotency_keys WHERE recorded_at < \(cutoff.millisecondsSinceEpoch)",
            "pruning idempotency keys")
        return result.metadata.rows ?? 0
    }
}
