import CreditsCore

/// A message waiting in the outbox, with its sequence number. Encoded on demand: the hot path
/// (balance-changed) keeps the entry and turns it into JSON only when it is produced.
public struct OutboxRecord: Sendable, Equatable {
    public var seq: Int64
    public var event: OutputEvent
    /// False for a record with no row of its own: an account state, rebuilt after a crash from the
    /// rows about its customer. It carries the seq of the newest row handed over before it and
    /// must be delivered before those rows are forgotten (see `OutboxPublisher`).
    public var isStored: Bool

    public init(seq: Int64, event: OutputEvent, isStored: Bool = true) {
        self.seq = seq
        self.event = event
        self.isStored = isStored
    }

    /// The message to produce.
    public var message: OutboundMessage { event.message }

    /// The customer a row is about, for the topics every change of an account writes to.
    public static func customerNamed(by event: OutputEvent) -> String? {
        switch event {
        case .balanceChanged(let entry): entry.customerID
        case .encoded(let message):
            switch message.topic {
            case .balanceChanged, .lowCredit, .blocks, .commandResults, .anomalies, .callGrants, .topUpRequests: message.key
            case .deadLetter, .accounts: nil
            }
        default: nil
        }
    }

    /// The account states a crash may have lost: a batch stores no row for the `credits.accounts`
    /// message of a customer it wrote other rows about (the pipeline reads the state when it is
    /// due), so the customers named by `records` (rows still in the outbox) get their newest state
    /// again, from `states`, with the seq of the last row; not those whose account never changed.
    /// A state sent again is the same message: its time is the account's `versionedAt`.
    public static func accountStatesRebuilt(
        for records: [OutboxRecord], states: ([String]) throws(StoreError) -> [AccountState]
    ) throws(StoreError) -> [OutboxRecord] {
        guard let last = records.last?.seq else { return [] }
        var seen = Set<String>()
        let named = records.compactMap { customerNamed(by: $0.event) }.filter { seen.insert($0).inserted }
        return try states(named).filter { $0.account.version > 0 }.map {
            OutboxRecord(seq: last, event: .account($0), isStored: false)
        }
    }
}

/// The `outbox` table: output messages in the order they happened, until the broker has them.
struct Outbox {
    let connection: SQLiteConnection

    static let insertColumns = ["seq", "topic", "key", "value", "entry_seq", "at"]

    /// Binds a pending row's values in `insertColumns` order; a balance-changed event is stored
    /// as a reference to its entry, an account state as a reference to its customer.
    static func bind(_ binder: inout SQLiteRowBinder, _ row: PendingWrites.OutboxRow) {
        binder.integer(row.seq)
        if case .balanceChanged(let entry) = row.event, let entrySeq = row.entrySeq {
            binder.integer(Int64(OutputTopic.balanceChanged.rawValue))
            binder.text(entry.customerID)
            binder.text(nil)
            binder.integer(entrySeq)
            binder.integer(nil)
        } else if case .account(let state) = row.event {
            // A reference to the customer and the state's time: encoded when produced (after a
            // restart, from the customer's newest state).
            binder.integer(Int64(OutputTopic.accounts.rawValue))
            binder.text(state.account.customerID)
            binder.text(nil)
            binder.integer(nil)
            binder.integer(state.updatedAt.millisecondsSinceEpoch)
        } else {
            let message = row.event.message
            binder.integer(Int64(message.topic.rawValue))
            binder.text(message.key)
            binder.text(message.value)
            binder.integer(nil)
            binder.integer(nil)
        }
    }

    /// The stored rows after `seq`, up to `limit`, oldest first (the store adds the account states
    /// rebuilt from them: `OutboxRecord.accountStatesRebuilt(for:states:)`).
    func pending(after seq: Int64, limit: Int) throws(StoreError) -> [OutboxRecord] {
        let statement = try connection.statement(
            "SELECT seq, topic, key, value, entry_seq, at FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?")
        statement.bind(.integer(seq), .integer(Int64(limit)))
        var rows: [(Int64, Int64, String, String?, Int64?, Int64?)] = []
        while try statement.step() {
            rows.append(
                (
                    statement.int64(0), statement.int64(1), statement.string(2), statement.optionalString(3),
                    statement.optionalInt64(4), statement.optionalInt64(5)
                ))
        }
        let entries = EntryRecords(connection: connection)
        var records: [OutboxRecord] = []
        for (seq, topicCode, key, value, entrySeq, at) in rows {
            if let entrySeq {
                guard let (entry, _) = try entries.load(seq: entrySeq) else {
                    throw StoreError(code: -1, message: "outbox \(seq) names missing entry \(entrySeq)", context: "outbox")
                }
                records.append(OutboxRecord(seq: seq, event: .balanceChanged(entry)))
            } else if topicCode == OutputTopic.accounts.rawValue, value == nil {
                guard let account = try CustomerRecords(connection: connection).load(key)?.account else {
                    throw StoreError(code: -1, message: "outbox \(seq) names missing customer \(key)", context: "outbox")
                }
                let time = at.map(Timestamp.init(millisecondsSinceEpoch:)) ?? WallClock.now()
                records.append(OutboxRecord(seq: seq, event: .account(AccountState(account, at: time))))
            } else if let topic = OutputTopic(rawValue: Int(topicCode)), let value {
                records.append(OutboxRecord(seq: seq, event: .encoded(OutboundMessage(topic: topic, key: key, value: value))))
            }
        }
        return records
    }

    func delete(through seq: Int64) throws(StoreError) {
        let statement = try connection.statement("DELETE FROM outbox WHERE seq <= ?")
        statement.bind(1, seq)
        try statement.run()
    }

    func count() throws(StoreError) -> Int {
        try connection.statement("SELECT count(*) FROM outbox").firstRow { Int($0.int64(0)) } ?? 0
    }

    func maxSeq() throws(StoreError) -> Int64 {
        try connection.statement("SELECT coalesce(max(seq), 0) FROM outbox").firstRow { $0.int64(0) } ?? 0
    }
}

/// The `consumer_offsets` table: the next offset to consume per input partition.
struct ConsumerOffsets {
    let connection: SQLiteConnection

    func save(_ partition: TopicPartition, nextOffset: Int64) throws(StoreError) {
        let statement = try connection.statement(
            """
            INSERT INTO consumer_offsets(topic, partition, next_offset) VALUES (?, ?, ?)
            ON CONFLICT(topic, partition) DO UPDATE SET next_offset = excluded.next_offset
            """)
        statement.bind(.text(partition.topic), .integer(Int64(partition.partition)), .integer(nextOffset))
        try statement.run()
    }

    func all() throws(StoreError) -> [TopicPartition: Int64] {
        let statement = try connection.statement("SELECT topic, partition, next_offset FROM consumer_offsets")
        var offsets: [TopicPartition: Int64] = [:]
        while try statement.step() {
            offsets[TopicPartition(topic: statement.string(0), partition: Int32(statement.int64(1)))] = statement.int64(2)
        }
        return offsets
    }
}
