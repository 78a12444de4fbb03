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
        /// `synchronous=NORMAL` in WAL mode: durable across process crashes; an OS crash may
        /// lose the last transactions, never corrupt the file. `FULL` syncs every commit.
        public var synchronousFull = false
        /// Page cache in KiB.
        public var cacheKiB = 65_536
        /// Customers kept in memory between batches.
        public var customerCacheLimit = 200_000

        public init() {}
    }

    private let connection: SQLiteConnection
    private let ledger: Ledger
    private let options: Options
    private var customers: [String: CustomerRecords.Stored] = [:]
    private var keyIndex: IdempotencyKeys.Index
    /// The next row numbers of the append-only tables (assigned by the store, written per batch).
    private var sequences: Sequences

    private struct Sequences {
        var entry: Int64
        var key: Int64
        var outbox: Int64
    }

    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    public init(path: String, ledger: Ledger, options: Options = Options()) throws(StoreError) {
        connection = try SQLiteConnection(path: path)
        self.ledger = ledger
        self.options = options
        try connection.execute("""
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=\(options.synchronousFull ? "FULL" : "NORMAL");
            PRAGMA cache_size=-\(options.cacheKiB);
            PRAGMA temp_store=MEMORY;
            PRAGMA foreign_keys=OFF;
            """)
        try Migrations.migrate(connection)
        sequences = Sequences(entry: try EntryRecords(connection: connection).maxSeq() + 1,
                              key: try IdempotencyKeys(connection: connection).maxSeq() + 1,
                              outbox: try Outbox(connection: connection).maxSeq() + 1)
        keyIndex = try IdempotencyKeys(connection: connection).loadIndex()
    }

    /// Idempotency keys held in the in-memory index.
    public var idempotencyKeyCount: Int { keyIndex.count }

    // MARK: Applying inputs

    /// Applies a batch of inputs in order, in one transaction, and records for each partition
    /// the offset after its last message. Either all of it is stored or none.
    @discardableResult
    public func apply(_ batch: [InboundMessage], at now: Timestamp) throws(StoreError) -> BatchReport {
        try inTransaction { () throws(StoreError) in
            var work = BatchWork(now: now, firstKeySeq: sequences.key)
            var offsets: [TopicPartition: Int64] = [:]
            for message in batch {
                let partition = TopicPartition(topic: message.origin.topic, partition: message.origin.partition)
                offsets[partition] = max(offsets[partition] ?? 0, message.origin.offset + 1)
                try apply(message, work: &work)
            }
            for (partition, next) in offsets {
                try ConsumerOffsets(connection: connection).save(partition, nextOffset: next)
            }
            try finish(&work)
            work.report.outbox = work.outbox
            return work.report
        }
    }

    /// Blocks every customer whose grace period has ended by `now`.
    @discardableResult
    public func fireDueGraceDeadlines(at now: Timestamp) throws(StoreError) -> BatchReport {
        try inTransaction { () throws(StoreError) in
            var work = BatchWork(now: now, firstKeySeq: sequences.key)
            let due = try CustomerRecords(connection: connection).dueForBlocking(at: now)
            for customerID in due {
                var customer = try customer(customerID, work: &work)
                let transition = ledger.fireGraceDeadline(for: customer.account, at: now)
                try record(transition, for: &customer, work: &work)
            }
            try finish(&work)
            work.report.graceDeadlinesFired = due.count
            work.report.outbox = work.outbox
            return work.report
        }
    }

    /// Customers with credits enabled per block state name (`active`, `grace`, `blocked`).
    public func blockStateCounts() throws(StoreError) -> [String: Int] {
        try CustomerRecords(connection: connection).blockStateCounts()
    }

    /// The earliest grace deadline still pending.
    public func nextGraceDeadline() throws(StoreError) -> Timestamp? {
        try CustomerRecords(connection: connection).nextDeadline()
    }

    // MARK: Outbox and offsets

    /// Output messages not yet acknowledged, oldest first, after `seq`.
    public func pendingOutbox(after seq: Int64 = 0, limit: Int = 10_000) throws(StoreError) -> [OutboxRecord] {
        try Outbox(connection: connection).pending(after: seq, limit: limit)
    }

    /// Forgets the outbox messages up to and including `seq`: the broker has them.
    public func markDelivered(through seq: Int64) throws(StoreError) {
        try Outbox(connection: connection).delete(through: seq)
    }

    /// Messages in the outbox.
    public func outboxDepth() throws(StoreError) -> Int { try Outbox(connection: connection).count() }

    /// The next offset to consume for every partition this store has applied messages from.
    public func consumedOffsets() throws(StoreError) -> [TopicPartition: Int64] {
        try ConsumerOffsets(connection: connection).all()
    }

    /// The state of one customer, or nil if the store has never seen it.
    public func account(_ customerID: String) throws(StoreError) -> CustomerAccount? {
        if let cached = customers[customerID] { return cached.account }
        return try CustomerRecords(connection: connection).load(customerID)?.account
    }

    // MARK: Internals

    private struct BatchWork {
        let now: Timestamp
        var report = BatchReport()
        /// Customers changed in this batch (their new state is in the cache).
        var dirty: [String] = []
        var dirtyNums = Set<Int64>()
        var outbox: [OutboxRecord] = []
        var pending: PendingWrites

        init(now: Timestamp, firstKeySeq: Int64) {
            self.now = now
            pending = PendingWrites(firstKeySeq: firstKeySeq)
        }
    }

    private func inTransaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        if customers.count > options.customerCacheLimit { customers.removeAll(keepingCapacity: true) }
        let first = sequences
        do {
            let value = try connection.transaction(body)
            keyIndex.commit()
            return value
        } catch {
            // The caches may hold changes that were rolled back.
            customers.removeAll()
            keyIndex.rollBack()
            sequences = first
            throw error
        }
    }

    private func finish(_ work: inout BatchWork) throws(StoreError) {
        try work.pending.flush(to: connection)
        try CustomerRecords(connection: connection).updateAll(work.dirty.compactMap { customers[$0] })
    }

    private func customer(_ customerID: String, work: inout BatchWork) throws(StoreError) -> CustomerRecords.Stored {
        if let cached = customers[customerID] { return cached }
        let records = CustomerRecords(connection: connection)
        let loaded: CustomerRecords.Stored
        if let stored = try records.load(customerID) {
            loaded = stored
        } else {
            let account = CustomerAccount.new(customerID)
            loaded = CustomerRecords.Stored(num: try records.insert(account), account: account, lastEntrySeq: nil)
        }
        customers[customerID] = loaded
        return loaded
    }

    private func apply(_ message: InboundMessage, work: inout BatchWork) throws(StoreError) {
        switch message.input {
        case .usage(let usage):
            try apply(usage, origin: message.origin, work: &work)
        case .command(let command):
            try apply(command, origin: message.origin, work: &work)
        case .invalid(let error, let identity):
            try deadLetter(message.origin, error, work: &work)
            if let identity {
                let balance = try account(identity.customerID)?.balance ?? .zero
                let result = CommandResult(commandID: identity.commandID, customerID: identity.customerID,
                                           status: .rejected, reason: .invalidCommand, message: error.message,
                                           balance: balance, processedAt: work.now)
                try emit(.commandResult(result), work: &work)
            }
        }
    }

    private func apply(_ usage: UsageEvent, origin: MessageOrigin, work: inout BatchWork) throws(StoreError) {
        var customer = try customer(usage.customerID, work: &work)
        let keys = IdempotencyKeys(connection: connection)
        switch try keys.claim(customerNum: customer.num, kind: .usage, key: usage.eventID, fingerprint: usage.fingerprint,
                              seq: sequences.key, index: &keyIndex, pending: &work.pending) {
        case .duplicate:
            work.report.countDuplicate(origin.topic)
        case .conflicting:
            try deadLetter(origin, InputError(.conflictingDuplicate,
                "event_id \"\(usage.eventID)\" was applied before with other fields"), work: &work)
        case .new(let seq):
            sequences.key += 1
            do {
                let transition = try ledger.apply(usage, to: customer.account, at: work.now)
                if transition.entries.isEmpty { work.report.usageNotCharged += 1 }
                work.report.countApplied(origin.topic)
                try record(transition, for: &customer, work: &work)
            } catch let error as InputError {
                if let position = work.pending.pendingKeyIndex(seq) { work.pending.keys[position].released = true }
                keyIndex.remove(IdempotencyKeys.hash(customerNum: customer.num, kind: .usage, key: usage.eventID), seq: seq)
                try deadLetter(origin, error, work: &work)
            } catch let error as StoreError {
                throw error
            } catch {
                throw StoreError(code: -1, message: "\(error)", context: "applying usage \(usage.eventID)")
            }
        }
    }

    private func apply(_ command: AdminCommand, origin: MessageOrigin, work: inout BatchWork) throws(StoreError) {
        var customer = try customer(command.customerID, work: &work)
        let keys = IdempotencyKeys(connection: connection)
        let claim = try keys.claim(customerNum: customer.num, kind: .command, key: command.commandID,
                                   fingerprint: command.fingerprint, seq: sequences.key, index: &keyIndex,
                                   pending: &work.pending)
        switch claim {
        case .duplicate(let status, let reason, let entryID):
            work.report.countDuplicate(origin.topic)
            try emit(.commandResult(CommandResult(
                commandID: command.commandID, customerID: command.customerID, status: .duplicate,
                reason: reason.flatMap(ReasonCode.init(rawValue:)), entryID: entryID, balance: customer.account.balance,
                originalStatus: status, processedAt: work.now)), work: &work)
        case .conflicting:
            let error = InputError(.conflictingDuplicate,
                                   "command_id \"\(command.commandID)\" was used before with other fields")
            try deadLetter(origin, error, work: &work)
            try emit(.commandResult(CommandResult(
                commandID: command.commandID, customerID: command.customerID, status: .rejected, reason: error.code,
                message: error.message, balance: customer.account.balance, processedAt: work.now)), work: &work)
        case .new(let seq):
            sequences.key += 1
            let transition = ledger.apply(command, to: customer.account, at: work.now)
            if let result = transition.commandResult, let position = work.pending.pendingKeyIndex(seq) {
                work.pending.keys[position].status = result.status
                work.pending.keys[position].reason = result.reason?.rawValue
                work.pending.keys[position].entryID = result.entryID
            }
            let result = transition.commandResult
            work.report.countApplied(origin.topic)
            if let reason = result?.reason { work.report.rejectedCommands[reason, default: 0] += 1 }
            try record(transition, for: &customer, work: &work)
        }
    }

    private func record(_ transition: LedgerTransition, for customer: inout CustomerRecords.Stored,
                        work: inout BatchWork) throws(StoreError) {
        var entrySeqs: [Int64: Int64] = [:]
        for entry in transition.entries {
            let seq = sequences.entry
            sequences.entry += 1
            work.pending.entries.append(PendingWrites.Entry(seq: seq, customerNum: customer.num,
                                                            previousSeq: customer.lastEntrySeq, entry: entry))
            customer.lastEntrySeq = seq
            entrySeqs[entry.entryID] = seq
        }
        for event in transition.events {
            if case .balanceChanged(let entry) = event {
                try emit(event, entrySeq: entrySeqs[entry.entryID], work: &work)
            } else {
                try emit(event, work: &work)
            }
        }
        work.report.entries += transition.entries.count
        if transition.account != customer.account || !transition.entries.isEmpty {
            customer.account = transition.account
            customers[customer.account.customerID] = customer
            if work.dirtyNums.insert(customer.num).inserted { work.dirty.append(customer.account.customerID) }
        }
    }

    private func deadLetter(_ origin: MessageOrigin, _ error: InputError, work: inout BatchWork) throws(StoreError) {
        work.report.countDeadLetter(origin.topic, error.code)
        let letter = DeadLetter(sourceTopic: origin.topic, partition: origin.partition, offset: origin.offset,
                                key: origin.key, payload: String(decoding: origin.payload, as: UTF8.self),
                                error: error, at: work.now)
        try emit(.deadLetter(letter), work: &work)
    }

    private func emit(_ event: OutputEvent, entrySeq: Int64? = nil, work: inout BatchWork) throws(StoreError) {
        let seq = sequences.outbox
        sequences.outbox += 1
        work.pending.outbox.append(PendingWrites.OutboxRow(seq: seq, event: event, entrySeq: entrySeq))
        work.outbox.append(OutboxRecord(seq: seq, event: event))
        work.report.outboxMessages += 1
    }
}
