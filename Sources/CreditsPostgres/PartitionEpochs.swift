import CreditsCore
import CreditsStore
import PostgresNIO

/// The ownership fence of the shared store: an epoch per input partition (`partition_owners`).
///
/// Taking a partition raises its epoch; every transaction that writes for a partition (a batch of
/// its input, a firing of its customers' deadlines) first holds the partition's row `FOR SHARE`
/// and finds the epoch its instance took. So an instance that has lost a partition commits
/// nothing more for it from the moment the new owner took it, even before the new owner has
/// applied anything (a fence on positions alone lets the old owner go on until then, and the two
/// owners' outputs of one customer interleave). Raising an epoch waits for the transactions
/// still holding the row under the old one, so the new owner reads everything they committed.
///
/// The group decides who takes a partition: an instance whose transaction was fenced must not
/// take its partitions back on its own (it would fence the rightful owner in turn); it rejoins
/// the group and takes what the group assigns it.
struct PartitionEpochs {
    /// The epoch this instance took each owned partition at.
    private(set) var taken: [TopicPartition: Int64] = [:]

    /// Raises the epochs of `partitions` (row locks in one order, so two instances taking
    /// partitions at once cannot deadlock) inside the caller's transaction, and keeps them.
    mutating func take(_ partitions: [TopicPartition], session: PostgresSession) throws(StoreError) {
        taken = [:]
        guard !partitions.isEmpty else { return }
        let rows = try session.query(
            """
            INSERT INTO partition_owners AS o (topic, partition, epoch)
            SELECT t, n, 1 FROM unnest(\(partitions.map(\.topic))::text[], \(partitions.map(\.partition))::int[]) AS x(t, n)
            ORDER BY t, n
            ON CONFLICT (topic, partition) DO UPDATE SET epoch = o.epoch + 1
            RETURNING topic, partition, epoch
            """, "taking partitions")
        for row in rows {
            let columns = PostgresColumns(row)
            taken[try columns.topicPartition()] = try columns.int(2)
        }
    }

    /// Sends the check of `partitions`' epochs, their rows held until the transaction ends (nil
    /// when there are none); `check` reads it.
    func sendCheck(_ partitions: [TopicPartition], session: PostgresSession) throws(StoreError) -> Int? {
        guard !partitions.isEmpty else { return nil }
        return try session.send(
            """
            SELECT topic, partition, epoch FROM partition_owners
            WHERE (topic, partition) IN (SELECT * FROM unnest(\(partitions.map(\.topic))::text[], \(partitions.map(\.partition))::int[]))
            ORDER BY topic, partition FOR SHARE
            """, "confirming ownership")
    }

    /// Throws `fenced` naming every one of `partitions` this instance did not take, or another
    /// instance has taken since.
    func check(_ rows: PostgresQueryResult, partitions: [TopicPartition]) throws(StoreError) {
        var current: [TopicPartition: Int64] = [:]
        for row in rows {
            let columns = PostgresColumns(row)
            current[try columns.topicPartition()] = try columns.int(2)
        }
        let lost = partitions.filter { partition in taken[partition].map { $0 != current[partition] } ?? true }
        guard !lost.isEmpty else { return }
        let described = lost.sorted().map { partition in
            "\(partition) (taken at epoch \(taken[partition].map(String.init) ?? "none"), "
                + "now \(current[partition].map(String.init) ?? "none"))"
        }
        throw StoreError(
            code: StoreError.fencedCode,
            message: "another instance took \(described.joined(separator: ", ")) after this one; the transaction was rolled back",
            context: "fencing", backend: "PostgreSQL")
    }

    /// `check` of a whole transaction's worth: sends, waits, checks.
    func confirm(_ partitions: [TopicPartition], session: PostgresSession) throws(StoreError) {
        guard let position = try sendCheck(partitions, session: session) else { return }
        try check(session.settle()[position], partitions: partitions)
    }
}
