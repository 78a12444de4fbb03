import CSQLite
import CreditsCore

/// A prepared statement. Parameters are bound by 1-based index; columns read by 0-based index.
final class SQLiteStatement {
    private let handle: OpaquePointer
    private let database: OpaquePointer
    let sql: String

    init(connection: SQLiteConnection, handle database: OpaquePointer, sql: String) throws(StoreError) {
        var pointer: OpaquePointer?
        let status = sqlite3_prepare_v3(database, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &pointer, nil)
        guard status == SQLITE_OK, let pointer else {
            throw StoreError(code: status, message: String(cString: sqlite3_errmsg(database)), context: sql)
        }
        self.handle = pointer
        self.database = database
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func bind(_ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(handle, index, value) } else { sqlite3_bind_null(handle, index) }
    }

    func bind(_ index: Int32, _ value: String?) {
        guard let value else {
            sqlite3_bind_null(handle, index)
            return
        }
        let length = Int32(value.utf8.count)
        _ = value.withCString { sqlite3_bind_text(handle, index, $0, length, csqlite_transient()) }
    }

    func bind(_ index: Int32, _ bytes: [UInt8]?) {
        guard let bytes else {
            sqlite3_bind_null(handle, index)
            return
        }
        bytes.withUnsafeBytes { bindBlob(index, $0) }
    }

    /// A chain hash as its 32 bytes, without an array.
    func bind(_ index: Int32, _ hash: ChainHash?) {
        guard let hash else {
            sqlite3_bind_null(handle, index)
            return
        }
        hash.withUnsafeBytes { bindBlob(index, $0) }
    }

    private func bindBlob(_ index: Int32, _ bytes: UnsafeRawBufferPointer) {
        sqlite3_bind_blob(handle, index, bytes.baseAddress, Int32(bytes.count), csqlite_transient())
    }

    /// Binds parameters 1, 2, … in order.
    func bind(_ values: SQLiteValue...) { bind(from: 1, values) }

    /// Binds parameters `start`, `start + 1`, … in order.
    func bind(from start: Int32, _ values: [SQLiteValue]) {
        for (offset, value) in values.enumerated() {
            let index = start + Int32(offset)
            switch value {
            case .integer(let number): bind(index, number)
            case .text(let text): bind(index, text)
            case .blob(let bytes): bind(index, bytes)
            }
        }
    }

    /// Advances to the next row; false when there are no more.
    @discardableResult
    func step() throws(StoreError) -> Bool {
        let status = sqlite3_step(handle)
        switch status {
        case SQLITE_ROW: return true
        case SQLITE_DONE:
            // Release the statement's read snapshot at once, or the WAL cannot be checkpointed.
            sqlite3_reset(handle)
            return false
        default:
            let message = String(cString: sqlite3_errmsg(database))
            // A failed statement must not stay active: it would keep the transaction from committing.
            sqlite3_reset(handle)
            throw StoreError(code: status, message: message, context: sql)
        }
    }

    /// Runs a statement that returns no rows.
    func run() throws(StoreError) {
        try step()
        sqlite3_reset(handle)
    }

    /// Reads the first row, if any, with `read`, then releases the statement.
    func firstRow<T>(_ read: (SQLiteStatement) -> T) throws(StoreError) -> T? {
        defer { sqlite3_reset(handle) }
        guard try step() else { return nil }
        return read(self)
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }

    func string(_ column: Int32) -> String {
        guard let text = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    func optionalString(_ column: Int32) -> String? { isNull(column) ? nil : string(column) }

    func optionalBlob(_ column: Int32) -> [UInt8]? {
        guard !isNull(column) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        guard let bytes = sqlite3_column_blob(handle, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }

    /// A chain hash stored as its 32 bytes; nil for NULL or another length.
    func optionalHash(_ column: Int32) -> ChainHash? {
        guard !isNull(column), sqlite3_column_bytes(handle, column) == 32,
            let bytes = sqlite3_column_blob(handle, column)
        else { return nil }
        return ChainHash(bytes: UnsafeRawBufferPointer(start: bytes, count: 32))
    }
}

/// A value to bind positionally.
enum SQLiteValue {
    case integer(Int64?)
    case text(String?)
    case blob([UInt8]?)
}

/// Binds one row's values in column order straight into a statement: the hot tables' writes
/// make no array of `SQLiteValue`s per row.
struct SQLiteRowBinder {
    let statement: SQLiteStatement
    /// The next parameter's index.
    private(set) var index: Int32

    init(_ statement: SQLiteStatement, from index: Int32) {
        self.statement = statement
        self.index = index
    }

    mutating func integer(_ value: Int64?) {
        statement.bind(index, value)
        index += 1
    }

    mutating func text(_ value: String?) {
        statement.bind(index, value)
        index += 1
    }

    mutating func blob(_ value: [UInt8]?) {
        statement.bind(index, value)
        index += 1
    }

    /// A chain hash as its 32 bytes (NULL for nil).
    mutating func hash(_ value: ChainHash?) {
        statement.bind(index, value)
        index += 1
    }

    mutating func values(_ values: [SQLiteValue]) {
        statement.bind(from: index, values)
        index += Int32(values.count)
    }
}
