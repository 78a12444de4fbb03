import CreditsCore
import CreditsStore
import PostgresNIO

/// The shared store's outbox (`outbox_groups`): one row per input partition for each part of a
/// batch, its messages in arrays, instead of one row per message. Inserting, deleting and
/// counting a row per message was about a third of the database's work per usage event
/// (`scripts/bench-scaling.sh` with `STATEMENTS=1`, docs/scaling.md).
///
/// A message's seq is its group's seq times `span` plus its place in the group, so seqs keep
/// the outbox's order and the publisher's delivered mark works as before. A group is deleted
/// once its last message is forgotten; until then it counts how many of its first messages are
/// (`delivered`), which are neither read nor counted again: the outbox forgets exactly the
/// messages it did when it had a row per message.
enum PostgresOutbox {
    /// Messages a group can hold; a message's seq is `group seq × span + place`.
    static let span: Int64 = 1 << 20

    typealias Row = (partition: Int32, message: OutboundMessage)

    /// Sends the insert of `rows` as one group per partition, each in the rows' order, without
    /// waiting (nil when there are none); `seqs` reads its result.
    static func sendInsert(_ rows: [Row], session: PostgresSession) throws(StoreError) -> Int? {
        guard !rows.isEmpty else { return nil }
        var counts: [Int32: Int64] = [:]
        for row in rows { counts[row.partition, default: 0] += 1 }
        if let largest = counts.values.max(), largest >= span {
            throw StoreError(
                code: StoreError.postgresCode, message: "\(largest) output messages of one partition in one batch part",
                context: "writing the outbox", backend: "PostgreSQL")
        }
        let bindings = PostgresColumnArray.bindings(rows, columns: 4, of: "outbox_groups") {
            [.int32($0.partition), .int(Int64($0.message.topic.rawValue)), .text($0.message.key), .text($0.message.value)]
        }
        return try session.send(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO outbox_groups (partition, topics, keys, messages)
                    SELECT p, array_agg(t::smallint ORDER BY i), array_agg(k ORDER BY i), array_agg(m ORDER BY i)
                    FROM unnest($1::int[], $2::bigint[], $3::text[], $4::text[]) WITH ORDINALITY AS x(p, t, k, m, i)
                    GROUP BY p ORDER BY min(i)
                    RETURNING seq, partition
                    """, binds: bindings),
            "writing the outbox")
    }

    /// The seq of each row of a `sendInsert`, given the rows' partitions in their order, from
    /// its result.
    static func seqs(ofPartitions partitions: [Int32], inserted: PostgresQueryResult) throws(StoreError) -> [Int64] {
        var groups: [Int32: Int64] = [:]
        for result in inserted {
            let columns = PostgresColumns(result)
            groups[Int32(try columns.int(1))] = try columns.int(0)
        }
        var places: [Int32: Int64] = [:]
        var seqs: [Int64] = []
        seqs.reserveCapacity(partitions.count)
        for partition in partitions {
            guard let group = groups[partition] else {
                throw StoreError(
                    code: StoreError.postgresCode, message: "the outbox insert returned no group for partition \(partition)",
                    context: "writing the outbox", backend: "PostgreSQL")
            }
            let place = places[partition, default: 0]
            places[partition] = place + 1
            seqs.append(group * span + place)
        }
        return seqs
    }

    /// Up to `limit` messages of `partitions` after `seq`, in outbox order, with their seq and
    /// partition (a message of a topic this version does not know has a nil message). The group
    /// of `seq` itself may have nothing left after it: one group more than `limit` is read, so
    /// that `limit` messages come back whenever there are that many (every group has one).
    static func pending(
        after seq: Int64, limit: Int, partitions: [Int32], session: PostgresSession
    ) throws(StoreError) -> [(seq: Int64, partition: Int32, message: OutboundMessage?)] {
        let rows = try session.query(
            """
            SELECT seq, partition, topics, keys, messages, delivered FROM outbox_groups
            WHERE seq >= \(seq / span) AND partition = ANY(\(partitions)::int[])
            ORDER BY seq LIMIT \(Int64(max(1, limit)) + 1)
            """, "reading the outbox")
        var pending: [(seq: Int64, partition: Int32, message: OutboundMessage?)] = []
        for row in rows {
            let columns = PostgresColumns(row)
            let group = try columns.int(0)
            let partition = Int32(try columns.int(1))
            let topics = try columns.int16s(2)
            let keys = try columns.strings(3)
            let messages = try columns.strings(4)
            let delivered = Int(try columns.int(5))
            for place in min(delivered, messages.count)..<min(topics.count, keys.count, messages.count) {
                let messageSeq = group * span + Int64(place)
                guard messageSeq > seq else { continue }
                guard pending.count < limit else { return pending }
                let message = OutputTopic(rawValue: Int(topics[place])).map {
                    OutboundMessage(topic: $0, key: keys[place], value: messages[place])
                }
                pending.append((messageSeq, partition, message))
            }
        }
        return pending
    }

    /// Forgets, per partition, the messages at or below its cutoff: groups wholly, and the first
    /// messages of the group the cutoff falls in.
    static func forget(_ cutoffs: [(partition: Int32, through: Int64)], session: PostgresSession) throws(StoreError) {
        guard !cutoffs.isEmpty else { return }
        let partitions = cutoffs.map(\.partition)
        let throughs = cutoffs.map(\.through)
        try session.send(
            """
            DELETE FROM outbox_groups o USING unnest(\(partitions)::int[], \(throughs)::bigint[]) AS c(p, s)
            WHERE o.partition = c.p AND o.seq <= c.s / \(span) AND o.seq * \(span) + cardinality(o.topics) - 1 <= c.s
            """,
            "forgetting delivered output")
        try session.query(
            """
            UPDATE outbox_groups o SET delivered = (c.s - o.seq * \(span) + 1)::int
            FROM unnest(\(partitions)::int[], \(throughs)::bigint[]) AS c(p, s)
            WHERE o.partition = c.p AND o.seq = c.s / \(span) AND o.delivered < c.s - o.seq * \(span) + 1
            """,
            "forgetting delivered output")
    }

    /// Messages in the outbox, of every partition.
    static func depth(_ session: PostgresSession) throws(StoreError) -> Int {
        let rows = try session.query(
            "SELECT coalesce(sum(cardinality(topics) - delivered), 0)::bigint FROM outbox_groups", "counting the outbox")
        guard let row = rows.first else { return 0 }
        return Int(try PostgresColumns(row).int(0))
    }
}
