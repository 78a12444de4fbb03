import CreditsCore

/// The rows a batch appends. They get their sequence numbers at once (the store counts them)
/// and are written at the end of the batch with multi-row INSERTs, in the same transaction.
struct PendingWrites {
    struct Entry {
        var seq: Int64
        var customerNum: Int64
        var previousSeq: Int64?
        var entry: LedgerEntry
    }

    struct Key {
        var seq: Int64
        var customerNum: Int64
        var kind: IdempotencyKeys.Kind
        var hash: Int64
        var key: String
        var digest: [UInt8]
        var recordedAt: Timestamp
        var status: CommandResult.Status = .applied
        var reason: String?
        var entryID: Int64?
        /// Claimed, then found not applicable: not written.
        var released = false
    }

    struct OutboxRow {
        var seq: Int64
        var event: OutputEvent
        var entrySeq: Int64?
    }

    /// The seq of the first key claimed in this batch; keys at or above it are in `keys`.
    let firstKeySeq: Int64
    var entries: [Entry] = []
    var keys: [Key] = []
    var outbox: [OutboxRow] = []
    var audits: [(customerNum: Int64, record: AuditRecord)] = []
    var grants: [(customer: Int64, change: GrantChange)] = []

    init(firstKeySeq: Int64) { self.firstKeySeq = firstKeySeq }

    /// The pending key claimed at `seq`, if it was claimed in this batch.
    func pendingKeyIndex(_ seq: Int64) -> Int? {
        let index = Int(seq - firstKeySeq)
        return index >= 0 && index < keys.count ? index : nil
    }

    /// Writes everything, in table order; `firstGrant` names each customer's first grant after
    /// the batch (by customer number).
    func flush(to connection: SQLiteConnection, firstGrant: (Int64) -> Int64?) throws(StoreError) {
        try connection.insert(entries, into: "entries", columns: EntryRecords.insertColumns, bind: EntryRecords.bind)
        try connection.insert(
            keys.contains { $0.released } ? keys.filter { !$0.released } : keys, into: "idempotency_keys",
            columns: IdempotencyKeys.insertColumns, bind: IdempotencyKeys.bind)
        try connection.insert(outbox, into: "outbox", columns: Outbox.insertColumns, bind: Outbox.bind)
        try connection.insert(audits, into: "audit", columns: AuditRecords.insertColumns, values: AuditRecords.values)
        try GrantRecords(connection: connection).write(grants, first: firstGrant)
    }
}
