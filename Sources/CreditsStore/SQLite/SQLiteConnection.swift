import CSQLite

/// One SQLite connection with a cache of prepared statements. Not thread-safe: its owner
/// serialises access (the store is used from one task at a time).
final class SQLiteConnection {
    private let handle: OpaquePointer
    private var statements: [String: SQLiteStatement] = [:]
    private var hotStatements: [UnsafeRawPointer: SQLiteStatement] = [:]

    init(path: String, readOnly: Bool = false) throws(StoreError) {
        var pointer: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &pointer, flags, nil)
        guard status == SQLITE_OK, let pointer else {
            let message = pointer.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close_v2(pointer)
            throw StoreError(code: status, message: message, context: "opening \(path)")
        }
        handle = pointer
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, 5000)
    }

    deinit {
        statements.removeAll()
        hotStatements.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Runs one or more statements that return no rows.
    func execute(_ sql: String) throws(StoreError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        guard status == SQLITE_OK else {
            let message = errorMessage.map { String(cString: $0) } ?? lastErrorMessage
            sqlite3_free(errorMessage)
            throw StoreError(code: status, message: message, context: sql)
        }
    }

    /// A prepared statement for `sql`, prepared once and reused.
    func statement(_ sql: String) throws(StoreError) -> SQLiteStatement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        let statement = try SQLiteStatement(connection: self, handle: handle, sql: sql)
        statements[sql] = statement
        return statement
    }

    /// A prepared statement for constant `sql`, found by the literal's address: the per-event
    /// statements use this to skip hashing their text.
    func hot(_ sql: StaticString) throws(StoreError) -> SQLiteStatement {
        let key = UnsafeRawPointer(sql.utf8Start)
        if let cached = hotStatements[key] {
            cached.reset()
            return cached
        }
        let text = sql.withUTF8Buffer { String(decoding: $0, as: UTF8.self) }
        let statement = try SQLiteStatement(connection: self, handle: handle, sql: text)
        hotStatements[key] = statement
        return statement
    }

    /// Appends `rows` with multi-row INSERTs of up to 64 rows each (one statement per chunk
    /// instead of one per row). `values` gives a row's column values in `columns` order.
    func insert<Row>(
        _ rows: [Row], into table: String, columns: [String], suffix: String = "",
        values: (Row) -> [SQLiteValue]
    ) throws(StoreError) {
        try insert(rows, into: table, columns: columns, suffix: suffix) { binder, row in binder.values(values(row)) }
    }

    /// `insert(_:into:columns:suffix:values:)` with each row bound in place by `bind`, which
    /// binds exactly `columns.count` values.
    func insert<Row>(
        _ rows: [Row], into table: String, columns: [String], suffix: String = "",
        bind: (inout SQLiteRowBinder, Row) -> Void
    ) throws(StoreError) {
        let chunkSize = 64
        var start = 0
        // The text of a full chunk is built once per call (batches write many full chunks).
        var fullChunk: String?
        func sql(rows count: Int) -> String {
            if count == chunkSize, let fullChunk { return fullChunk }
            let placeholders = "(" + Array(repeating: "?", count: columns.count).joined(separator: ",") + ")"
            let text =
                "INSERT INTO \(table)(\(columns.joined(separator: ", "))) VALUES "
                + Array(repeating: placeholders, count: count).joined(separator: ",") + suffix
            if count == chunkSize { fullChunk = text }
            return text
        }
        while start < rows.count {
            let count = min(chunkSize, rows.count - start)
            let statement = try statement(sql(rows: count))
            var binder = SQLiteRowBinder(statement, from: 1)
            for index in 0..<count {
                bind(&binder, rows[start + index])
                precondition(
                    binder.index == Int32((index + 1) * columns.count + 1), "a row of \(table) bound a wrong number of values")
            }
            try statement.run()
            start += count
        }
    }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    var lastErrorMessage: String { String(cString: sqlite3_errmsg(handle)) }

    /// Runs `body` in a transaction: commits when it returns, rolls back when it throws. A write
    /// transaction takes the write lock at once; a read transaction reads one snapshot.
    func transaction<T>(writing: Bool = true, _ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try execute(writing ? "BEGIN IMMEDIATE" : "BEGIN")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// SQLite's online backup of the whole database into a new file at `path`.
    func backup(to path: String) throws(StoreError) {
        let target = try SQLiteConnection(path: path)
        guard let backup = sqlite3_backup_init(target.handle, "main", handle, "main") else {
            throw StoreError(code: sqlite3_errcode(target.handle), message: target.lastErrorMessage, context: "backup to \(path)")
        }
        let status = sqlite3_backup_step(backup, -1)
        sqlite3_backup_finish(backup)
        guard status == SQLITE_DONE else {
            throw StoreError(code: status, message: target.lastErrorMessage, context: "backup to \(path)")
        }
    }
}
