import CreditsCore

/// A message waiting in the outbox, with its sequence number.
public struct OutboxRecord: Sendable, Equatable {
    public var seq: Int64
    public var message: OutboundMessage
}

/// The `outbox` table: output messages in the order they happened, until the broker has them.
struct Outbox {
    let connection: SQLiteConnection

    func append(_ message: OutboundMessage, seq: Int64) throws(StoreError) {
        let statement = try connection.statement("INSERT INTO outbox(seq, topic, key, value) VALUES (?, ?, ?, ?)")
        statement.bind(.integer(seq), .integer(Int64(message.topic.rawValue)), .text(message.key), .text(message.value))
        try statement.run()
    }

    func pending(after seq: Int64, limit: Int) throws(StoreError) -> [OutboxRecord] {
        let statement = try connection.statement("SELECT seq, topic, key, value FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?")
        statement.bind(.integer(seq), .integer(Int64(limit)))
        var records: [OutboxRecord] = []
        while try statement.step() {
            guard let topic = OutputTopic(rawValue: Int(statement.int64(1))) else { continue }
            records.append(OutboxRecord(seq: statement.int64(0), message: OutboundMessage(
                topic: topic, key: statement.string(2), value: statement.string(3))))
        }
        return records
    }

    func delete(through seq: Int64) throws(StoreError) {
        let statement = try connection.statement("DELETE FROM outbox WHERE seq <= ?")
        statement.bind(1, seq)
        try statement.run()
    }

    func count() throws(StoreError) -> Int {
        let statement = try connection.statement("SELECT count(*) FROM outbox")
        try statement.step()
        return Int(statement.int64(0))
    }

    func maxSeq() throws(StoreError) -> Int64 {
        let statement = try connection.statement("SELECT coalesce(max(seq), 0) FROM outbox")
        try statement.step()
        return statement.int64(0)
    }
}

/// The `consumer_offsets` table: the next offset to consume per input partition.
struct ConsumerOffsets {
    let connection: SQLiteConnection

    func save(_ partition: TopicPartition, nextOffset: Int64) throws(StoreError) {
        let statement = try connection.statement("""
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
