import CreditsCore
import CreditsStore
import NIOCore
import PostgresNIO

/// Reads the columns of one result row by position, turning a decoding failure into a
/// `StoreError`.
struct PostgresColumns {
    private let row: PostgresRandomAccessRow

    init(_ row: PostgresRow) { self.row = row.makeRandomAccess() }

    func int(_ index: Int) throws(StoreError) -> Int64 { try decode(index, Int64.self) }
    func optionalInt(_ index: Int) throws(StoreError) -> Int64? { try decode(index, Int64?.self) }
    func string(_ index: Int) throws(StoreError) -> String { try decode(index, String.self) }
    func optionalString(_ index: Int) throws(StoreError) -> String? { try decode(index, String?.self) }
    func bool(_ index: Int) throws(StoreError) -> Bool { try decode(index, Bool.self) }
    /// Columns 0 and 1 as a topic and partition.
    func topicPartition() throws(StoreError) -> TopicPartition {
        TopicPartition(topic: try string(0), partition: Int32(try int(1)))
    }
    func strings(_ index: Int) throws(StoreError) -> [String] { try decode(index, [String].self) }
    func int16s(_ index: Int) throws(StoreError) -> [Int16] { try decode(index, [Int16].self) }
    func bytes(_ index: Int) throws(StoreError) -> [UInt8] {
        let buffer = try decode(index, ByteBuffer.self)
        return Array(buffer.readableBytesView)
    }

    private func decode<T: PostgresDecodable>(_ index: Int, _ type: T.Type) throws(StoreError) -> T {
        do {
            return try row[index].decode(T.self)
        } catch {
            throw PostgresSession.storeError(error, context: "reading column \(index) as \(T.self)")
        }
    }
}

/// A value of a row for `PostgresSession.insert` and `send` (one column of one row).
enum PostgresValue {
    case int(Int64?)
    case int32(Int32)
    case text(String?)
    case bool(Bool)
    case bytes([UInt8])
}

extension PostgresSession {
    /// Sends the insert of `rows` followed by `suffix` (ON CONFLICT …, RETURNING …) without
    /// waiting for it (`settle` or the next `query` waits); returns the statement's place in what
    /// `settle` returns, nil when there are no rows (nothing is sent). One statement whatever the
    /// number of rows, `INSERT … SELECT * FROM unnest($1, $2, …)` with one array parameter per
    /// column, so that PostgreSQL parses and plans the same short text every time instead of a
    /// VALUES list as long as the batch.
    @discardableResult
    func send<Row>(
        _ rows: [Row], into table: String, columns: [String], suffix: String = "",
        values: (Row) -> [PostgresValue]
    ) throws(StoreError) -> Int? {
        guard !rows.isEmpty else { return nil }
        let bindings = PostgresColumnArray.bindings(rows, columns: columns.count, of: table, values: values)
        let parameters = (1...columns.count).map { "$\($0)" }.joined(separator: ", ")
        let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) SELECT * FROM unnest(\(parameters))\(suffix)"
        return try send(PostgresQuery(unsafeSQL: sql, binds: bindings), "inserting into \(table)")
    }
}

/// One column of a batch's rows as a PostgreSQL array in the binary format (NULL elements
/// allowed, which PostgresNIO's own arrays do not encode).
struct PostgresColumnArray: PostgresDynamicTypeEncodable {
    /// The array's type.
    let psqlType: PostgresDataType
    var psqlFormat: PostgresFormat { .binary }
    private let elementType: PostgresDataType
    private var count: Int32 = 0
    private var hasNull = false
    /// The elements as the binary array format has them: each its length (-1: NULL), its bytes.
    private var elements = ByteBuffer()

    /// `rows` (at least one) as one array parameter per column, `$1` … `$columns` in order.
    static func bindings<Row>(
        _ rows: [Row], columns: Int, of table: String, values: (Row) -> [PostgresValue]
    ) -> PostgresBindings {
        var arrays = values(rows[0]).map(PostgresColumnArray.init(like:))
        precondition(arrays.count == columns, "a row of \(table) has \(arrays.count) values for \(columns) columns")
        for row in rows {
            let rowValues = values(row)
            precondition(rowValues.count == columns, "a row of \(table) has a wrong number of values")
            for (index, value) in rowValues.enumerated() { arrays[index].append(value) }
        }
        var bindings = PostgresBindings(capacity: arrays.count)
        for array in arrays { bindings.append(array, context: .default) }
        return bindings
    }

    /// An empty column for values of `value`'s kind.
    init(like value: PostgresValue) {
        switch value {
        case .int: (psqlType, elementType) = (.int8Array, .int8)
        case .int32: (psqlType, elementType) = (.int4Array, .int4)
        case .text: (psqlType, elementType) = (.textArray, .text)
        case .bool: (psqlType, elementType) = (.boolArray, .bool)
        case .bytes: (psqlType, elementType) = (.byteaArray, .bytea)
        }
    }

    /// Appends a value, of the kind the column was made for.
    mutating func append(_ value: PostgresValue) {
        count += 1
        switch (value, elementType) {
        case (.int(let value?), .int8):
            elements.writeInteger(Int32(8))
            elements.writeInteger(value)
        case (.int32(let value), .int4):
            elements.writeInteger(Int32(4))
            elements.writeInteger(value)
        case (.text(let value?), .text):
            elements.writeInteger(Int32(value.utf8.count))
            elements.writeString(value)
        case (.bool(let value), .bool):
            elements.writeInteger(Int32(1))
            elements.writeInteger(UInt8(value ? 1 : 0))
        case (.bytes(let value), .bytea):
            elements.writeInteger(Int32(value.count))
            elements.writeBytes(value)
        case (.int(nil), .int8), (.text(nil), .text):
            hasNull = true
            elements.writeInteger(Int32(-1))
        default:
            preconditionFailure("a \(value) in a column of \(elementType)")
        }
    }

    func encode<JSONEncoder: PostgresJSONEncoder>(
        into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>
    ) {
        buffer.writeInteger(Int32(1))  // dimensions
        buffer.writeInteger(Int32(hasNull ? 1 : 0))
        buffer.writeInteger(elementType.rawValue)
        buffer.writeInteger(count)  // the dimension's length
        buffer.writeInteger(Int32(1))  // its lower bound
        var elements = elements
        buffer.writeBuffer(&elements)
    }
}
