import CreditsCore

/// Reads and writes the append-only `entries` table.
struct EntryRecords {
    let connection: SQLiteConnection

    static let kinds: [LedgerEntry.Kind] = [.added, .deducted, .used, .expired]

    static let insertColumns = [
        "seq", "customer_num", "entry_id", "prev_seq", "kind", "amount", "balance", "note", "source_kind", "source_id",
        "actor", "call_part", "ai_part", "tool_part", "warnings", "deduct_reason", "occurred_at", "recorded_at",
        "expires_at", "hash",
    ]

    /// Binds a pending entry's values in `insertColumns` order.
    static func bind(_ binder: inout SQLiteRowBinder, _ row: PendingWrites.Entry) {
        let entry = row.entry
        binder.integer(row.seq)
        binder.integer(row.customerNum)
        binder.integer(entry.entryID)
        binder.integer(row.previousSeq)
        binder.integer(Int64(kinds.firstIndex(of: entry.kind)!))
        binder.integer(entry.amount.micros)
        binder.integer(entry.balance.micros)
        binder.text(entry.note)
        binder.integer(entry.source.code)
        binder.text(entry.source.id)
        binder.text(entry.actor)
        binder.integer(entry.breakdown?.call.micros)
        binder.integer(entry.breakdown?.ai.micros)
        binder.integer(entry.breakdown?.toolCalls.micros)
        binder.text(entry.breakdown.flatMap { $0.warnings.isEmpty ? nil : $0.warnings.joined(separator: ",") })
        binder.text(entry.deductReason?.rawValue)
        binder.integer(entry.occurredAt.millisecondsSinceEpoch)
        binder.integer(entry.recordedAt.millisecondsSinceEpoch)
        binder.integer(entry.expiresAt?.millisecondsSinceEpoch)
        binder.hash(entry.hash)
    }

    func maxSeq() throws(StoreError) -> Int64 {
        try connection.statement("SELECT coalesce(max(seq), 0) FROM entries").firstRow { $0.int64(0) } ?? 0
    }

    /// The entry stored at `seq`, its customer and the seq of the customer's previous entry.
    func load(seq: Int64) throws(StoreError) -> (entry: LedgerEntry, previousSeq: Int64?)? {
        let statement = try connection.statement(
            """
            SELECT \(Self.columns), c.customer_id, e.prev_seq FROM entries e
            JOIN customers c ON c.customer_num = e.customer_num WHERE e.seq = ?
            """)
        statement.bind(1, seq)
        return try statement.firstRow { row in
            (
                Self.entry(from: row, customerID: row.string(Int32(Self.columnCount))),
                row.optionalInt64(Int32(Self.columnCount + 1))
            )
        }
    }

    static let columns = """
        e.entry_id, e.kind, e.amount, e.balance, e.note, e.source_kind, e.source_id, e.actor, e.call_part, e.ai_part,
        e.tool_part, e.warnings, e.deduct_reason, e.occurred_at, e.recorded_at, e.expires_at, e.hash
        """

    /// How many columns `columns` has (a query's own columns follow them).
    static let columnCount = 17

    static func entry(from row: SQLiteStatement, customerID: String) -> LedgerEntry {
        let sourceID = row.string(6)
        var breakdown: Pricing.Charge?
        if let call = row.optionalInt64(8) {
            breakdown = Pricing.Charge(
                call: CreditAmount(micros: call), ai: CreditAmount(micros: row.int64(9)),
                toolCalls: CreditAmount(micros: row.int64(10)),
                warnings: row.optionalString(11).map { $0.split(separator: ",").map(String.init) } ?? [])
        }
        return LedgerEntry(
            customerID: customerID, entryID: row.int64(0), kind: kinds[Int(row.int64(1)) % kinds.count],
            amount: CreditAmount(micros: row.int64(2)), balance: CreditAmount(micros: row.int64(3)), note: row.string(4),
            source: LedgerEntry.Source(code: row.int64(5), id: sourceID),
            actor: row.optionalString(7), breakdown: breakdown,
            deductReason: row.optionalString(12).flatMap(AdminCommand.DeductReason.init(rawValue:)),
            occurredAt: Timestamp(millisecondsSinceEpoch: row.int64(13)),
            recordedAt: Timestamp(millisecondsSinceEpoch: row.int64(14)),
            expiresAt: row.optionalInt64(15).map(Timestamp.init(millisecondsSinceEpoch:)),
            hash: row.optionalHash(16) ?? .genesis)
    }
}
