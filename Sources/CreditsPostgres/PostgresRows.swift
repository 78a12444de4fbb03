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

/// A value for a multi-row INSERT.
enum PostgresValue {
    case int(Int64?)
    case int32(Int32)
    case text(String?)
    case bool(Bool)
    case bytes([UInt8])

    func append(to bindings: inout PostgresBindings) {
        switch self {
        case .int(let value): bindings.append(value)
        case .int32(let value): bindings.append(value)
        case .text(let value): bindings.append(value)
        case .bool(let value): bindings.append(value)
        case .bytes(let value): bindings.append(ByteBuffer(bytes: value))
        }
    }
}

extension PostgresSession {
    /// Inserts `rows` with multi-row INSERTs (as many rows per statement as the protocol's
    /// 65 535 parameters allow), each followed by `suffix` (ON CONFLICT …, RETURNING …); returns
    /// the rows the statements returned.
    func insert<Row>(
        _ rows: [Row], into table: String, columns: [String], suffix: String = "",
        values: (Row) -> [PostgresValue]
    ) throws(StoreError) -> [PostgresRow] {
        guard !rows.isEmpty else { return [] }
        try settle()  // what was sent before: its results are not this insert's
        try send(rows, into: table, columns: columns, suffix: suffix, values: values)
        return try settle().flatMap(\.rows)
    }

    /// `insert` without waiting for the statements (`settle` or the next `query` waits).
    func send<Row>(
        _ rows: [Row], into table: String, columns: [String], suffix: String = "",
        values: (Row) -> [PostgresValue]
    ) throws(StoreError) {
        let perStatement = max(1, min(1_000, 65_535 / columns.count))
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(rows.count, start + perStatement)]
            var bindings = PostgresBindings(capacity: chunk.count * columns.count)
            var tuples: [String] = []
            tuples.reserveCapacity(chunk.count)
            var parameter = 1
            for row in chunk {
                let values = values(row)
                tuples.append("(" + (parameter..<parameter + values.count).map { "$\($0)" }.joined(separator: ",") + ")")
                parameter += values.count
                for value in values { value.append(to: &bindings) }
            }
            let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES \(tuples.joined(separator: ","))\(suffix)"
            try send(PostgresQuery(unsafeSQL: sql, binds: bindings), "inserting into \(table)")
            start += chunk.count
        }
    }
}
