import CreditsCore

/// Gives the entries stored before the verifiable history their chain hashes, each customer's
/// in entry order from `EntryHash.genesis`, and every customer its `head_hash`.
enum HashBackfill {
    static func run(_ connection: SQLiteConnection) throws(StoreError) {
        let read = try connection.statement(
            """
            SELECT \(EntryRecords.columns), c.customer_id, e.seq, e.customer_num FROM entries e
            JOIN customers c ON c.customer_num = e.customer_num WHERE e.hash IS NULL ORDER BY e.customer_num, e.entry_id
            """)
        let columnCount = EntryRecords.columnCount
        var updates: [(seq: Int64, hash: ChainHash)] = []
        var heads: [(num: Int64, hash: ChainHash)] = []
        var customer: Int64?
        var previous = EntryHash.genesis
        while try read.step() {
            let num = read.int64(Int32(columnCount + 2))
            if num != customer {
                if let customer { heads.append((customer, previous)) }
                customer = num
                previous = EntryHash.genesis
            }
            let entry = EntryRecords.entry(from: read, customerID: read.string(Int32(columnCount)))
            previous = EntryHash.of(entry, previous: previous)
            updates.append((read.int64(Int32(columnCount + 1)), previous))
        }
        if let customer { heads.append((customer, previous)) }
        let setHash = try connection.statement("UPDATE entries SET hash = ? WHERE seq = ?")
        for update in updates {
            setHash.bind(.blob(update.hash.bytes), .integer(update.seq))
            try setHash.run()
        }
        let setHead = try connection.statement("UPDATE customers SET head_hash = ? WHERE customer_num = ?")
        for head in heads {
            setHead.bind(.blob(head.hash.bytes), .integer(head.num))
            try setHead.run()
        }
    }
}
