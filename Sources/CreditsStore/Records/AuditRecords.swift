import CreditsCore

/// The `audit` table: what applied commands changed, per customer, in the order they were applied.
struct AuditRecords {
    let connection: SQLiteConnection

    static let insertColumns = ["customer_num", "command_id", "actor", "type", "issued_at", "recorded_at", "changes"]

    static func values(_ row: (customerNum: Int64, record: AuditRecord)) -> [SQLiteValue] {
        let record = row.record
        return [
            .integer(row.customerNum), .text(record.commandID), .text(record.actor), .text(record.type),
            .integer(record.issuedAt.millisecondsSinceEpoch), .integer(record.recordedAt.millisecondsSinceEpoch),
            .text(record.changesJSON),
        ]
    }

    /// A customer's records newest first, below `cursor` (a row number from a previous page).
    func page(customerNum: Int64, customerID: String, before cursor: Int64?, limit: Int) throws(StoreError) -> AuditPage {
        let statement = try connection.statement(
            """
            SELECT seq, command_id, actor, type, issued_at, recorded_at, changes FROM audit
            WHERE customer_num = ? AND seq < ? ORDER BY seq DESC LIMIT ?
            """)
        statement.bind(.integer(customerNum), .integer(cursor ?? Int64.max), .integer(Int64(limit) + 1))
        var page = AuditPage(records: [], next: nil)
        while try statement.step() {
            if page.records.count == limit {
                page.next = statement.int64(0) + 1
                break
            }
            page.records.append(
                AuditRecord(
                    customerID: customerID, commandID: statement.string(1), actor: statement.string(2),
                    type: statement.string(3), issuedAt: Timestamp(millisecondsSinceEpoch: statement.int64(4)),
                    recordedAt: Timestamp(millisecondsSinceEpoch: statement.int64(5)),
                    changes: AuditRecord.changes(fromJSON: statement.string(6))))
        }
        statement.reset()
        return page
    }
}

/// A page of a customer's audit records, newest first; `next` is the cursor of the next page.
public struct AuditPage: Sendable, Equatable {
    public var records: [AuditRecord]
    public var next: Int64?

    public init(records: [AuditRecord], next: Int64?) {
        self.records = records
        self.next = next
    }
}
