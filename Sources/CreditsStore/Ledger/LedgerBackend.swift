import CreditsCore

/// What the pipeline needs of a store: one writer of the ledger, on one thread. Two
/// implementations: `LedgerStore` (an SQLite file, one instance) and the PostgreSQL store (one
/// database shared by several instances, each applying the partitions Kafka assigned it).
public protocol LedgerWriter: AnyObject {
    /// Whether the store is shared by several instances (outbox and timers then belong to the
    /// owner of each partition, and positions are re-read on every assignment).
    var isShared: Bool { get }

    /// Takes over `partitions` (the group's current assignment) and returns their stored next
    /// offsets (absent: never applied). From now on this writer's batches are fenced against
    /// these positions, and its outbox and grace deadlines are those of these partitions. A
    /// shared store fences whoever had them before: they commit nothing more for them.
    func own(_ partitions: [TopicPartition]) throws(StoreError) -> [TopicPartition: Int64]

    /// Gives up the owned partitions (the group revoked them, or another writer took one):
    /// nothing more is applied, fired or read for them until the next `own`. No I/O.
    func release()

    /// The next offset to consume for every partition this store has applied messages from.
    func consumedOffsets() throws(StoreError) -> [TopicPartition: Int64]

    /// Forgets the consumed offsets (for the embedded broker, whose logs start afresh each run).
    func forgetConsumedOffsets() throws(StoreError)

    /// Applies a batch in one transaction with the partitions' next offsets. A batch containing
    /// a partition another writer has applied since `own` throws `StoreError` with `isFenced`.
    func apply(_ batch: [InboundMessage], at now: Timestamp) throws(StoreError) -> BatchReport

    /// `apply(_:at:)` of a batch still being decoded: a store that applies message by message
    /// starts before the last is decoded; the default waits for all of them.
    func apply<Note>(decoding batch: DecodingBatch<Note>, at now: Timestamp) throws(StoreError) -> BatchReport

    /// Whether `apply(decoding:at:)` starts before the batch is decoded (false: a batch for this
    /// store is better decoded at once, on every core).
    var appliesWhileDecoding: Bool { get }

    /// The earliest pending grace deadline (of the owned partitions, when shared).
    func nextDeadline() throws(StoreError) -> Timestamp?

    /// Blocks every customer whose grace period has ended by `now`.
    func fireDueDeadlines(at now: Timestamp) throws(StoreError) -> BatchReport

    /// Forgets idempotency keys recorded before `cutoff`; returns how many.
    func pruneIdempotencyKeys(recordedBefore cutoff: Timestamp) throws(StoreError) -> Int

    /// Output messages not yet acknowledged, in outbox order, after `seq`.
    func pendingOutbox(after seq: Int64, limit: Int) throws(StoreError) -> [OutboxRecord]

    /// Forgets the outbox messages up to and including `seq` (of the owned partitions, when shared).
    func markDelivered(through seq: Int64) throws(StoreError)

    /// Messages in the outbox (all of them).
    func outboxDepth() throws(StoreError) -> Int

    /// Customers with credits enabled per block state name (`active`, `grace`, `blocked`).
    func blockStateCounts() throws(StoreError) -> [String: Int]

    /// Live calls with a hold, and the credits they hold, over all customers.
    func liveCallTotals() throws(StoreError) -> LiveCallTotals

    /// The current `credits.accounts` state of each customer in `customerIDs` the store knows,
    /// in that order: the states of `BatchReport.changedAccounts`, read when they are sent.
    func accountStates(of customerIDs: some Collection<String>) throws(StoreError) -> [AccountState]

    /// A line for the start-up log: where the store is and what it holds.
    var summary: String { get }

    /// Lets go of the store (its lock, its connection).
    func close()
}

extension LedgerWriter {
    public var appliesWhileDecoding: Bool { false }

    public func apply<Note>(decoding batch: DecodingBatch<Note>, at now: Timestamp) throws(StoreError) -> BatchReport {
        try apply(batch.messages(), at: now)
    }
}

/// Read-only queries for the HTTP API and the CLI, each run inside `snapshot` so it sees one
/// consistent state. Not thread-safe: one per request at a time.
public protocol LedgerReading: AnyObject {
    func snapshot<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T
    func account(_ customerID: String) throws(StoreError) -> CustomerAccount?
    func entries(
        _ customerID: String, cursor: HistoryCursor?, limit: Int,
        kind: LedgerEntry.Kind?
    ) throws(StoreError) -> HistoryPage
    /// The customer's usage in `[from, to)` summed per bucket; nil when the range holds more than
    /// `scanLimit` used entries (the caller asks for a shorter range), so that one request never
    /// reads an unbounded number of rows inside its snapshot.
    func usage(
        _ customerID: String, from: Timestamp, to: Timestamp,
        bucketMilliseconds: Int64, scanLimit: Int
    ) throws(StoreError) -> [UsageBucket]?
    func verify() throws(StoreError) -> VerificationReport
    func outboxDepth() throws(StoreError) -> Int
    func blockStateCounts() throws(StoreError) -> [String: Int]
    /// Customers with credits enabled that match `filter`, by customer_id after `after`, at most
    /// `limit` of them.
    func customers(_ filter: CustomerFilter, after: String?, limit: Int) throws(StoreError) -> [CustomerAccount]
    /// The balance after the customer's last entry recorded at or before `at` (0 and entry 0 when
    /// there is none); nil when the entry could not be found within `scanLimit` entries.
    func balance(_ customerID: String, at: Timestamp, scanLimit: Int) throws(StoreError) -> (
        balance: CreditAmount, entryID: Int64
    )?
    /// The customer's audit records (applied commands that changed it), newest first, below
    /// `cursor` (the `next` of a previous page).
    func audit(_ customerID: String, before cursor: Int64?, limit: Int) throws(StoreError) -> AuditPage
}

/// Live calls and their holds summed over the ledger (for the metrics).
public struct LiveCallTotals: Sendable, Equatable {
    public var calls: Int
    public var held: CreditAmount

    public init(calls: Int, held: CreditAmount) {
        self.calls = calls
        self.held = held
    }
}

/// Which customers `LedgerReading.customers` lists.
public struct CustomerFilter: Sendable, Equatable {
    /// Only customers in this block state (`active`, `grace`, `blocked`); any when nil.
    public var state: BlockStateName?
    /// Only customers at or below their low-credit threshold (a threshold set).
    public var lowCredit: Bool

    public enum BlockStateName: String, Sendable, Equatable, CaseIterable {
        case active, grace, blocked

        /// The stored `block_state` code (StoredBlockState).
        public var code: Int64 {
            switch self {
            case .active: 0
            case .grace: 1
            case .blocked: 2
            }
        }
    }

    public init(state: BlockStateName? = nil, lowCredit: Bool = false) {
        self.state = state
        self.lowCredit = lowCredit
    }
}

extension LedgerStore: LedgerWriter {
    public var isShared: Bool { false }

    /// One writer per file (the lock): the stored offsets are this store's own.
    public func own(_ partitions: [TopicPartition]) throws(StoreError) -> [TopicPartition: Int64] {
        try consumedOffsets().filter { partitions.contains($0.key) }
    }

    /// The only writer of its file owns every partition whatever the group says.
    public func release() {}

    public var summary: String {
        let figures = keyIndexFigures
        return "SQLite, \(recentKeyCount) idempotency keys in memory, \(figures.runs) runs on disk, "
            + "filter \(figures.filterBytes / 1024) KiB"
    }
}

extension LedgerReader: LedgerReading {
    public func entries(
        _ customerID: String, cursor: HistoryCursor?, limit: Int,
        kind: LedgerEntry.Kind?
    ) throws(StoreError) -> HistoryPage {
        try entries(customerID, cursor: cursor, limit: limit, kind: kind, scanLimit: 10_000)
    }
}
