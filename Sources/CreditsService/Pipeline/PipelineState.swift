import CreditsCore
import CreditsKafka

/// The pipeline's decisions, without I/O: which partitions it owns and from which offset it
/// applies each, which stay paused and why, when input waits for output, when deadlines may
/// fire. `LedgerPipeline` feeds it events
/// (an assignment, a revocation, the positions the store returned, a fenced batch, a group
/// offset read, an applied batch) and performs the actions it returns with Kafka and the store.
/// (Which outbox rows a delivered mark may forget is the store's to know: a shared store forgets
/// a partition's rows only up to the last it handed over since it took the partition.)
/// The deterministic simulator drives the same code.
struct PipelineState {
    /// What the driver must do after an event.
    enum Action: Equatable {
        /// Move the consumer's fetch positions (after a fenced batch: to the stored positions).
        case seek([TopicPartition: Int64])
        /// Start fetching these paused partitions again.
        case resume([TopicPartition])
    }

    /// Whether the store is shared by several instances (positions, outbox and deadlines then
    /// belong to the owner of each partition and are read again on every change of ownership).
    let shared: Bool
    /// Next offset to apply per partition, as the store holds it.
    private(set) var nextOffsets: [TopicPartition: Int64]
    private(set) var paused = Set<TopicPartition>()
    /// Assigned partitions this store has no position for, paused until the group's committed
    /// offset is read: none or 0 means a new partition, anything else that another store applied it.
    private(set) var unverified = Set<TopicPartition>()
    private(set) var pauseReasons: [TopicPartition: String] = [:]
    /// An assignment whose stored positions could not be read yet: its partitions stay paused
    /// until `owned` succeeds.
    private(set) var unowned: [TopicPartition]?
    /// Shared store: after an ownership change the outbox is read again for the partitions now
    /// owned, once everything handed over is delivered, before any input or deadline.
    private(set) var needsOutboxRescan = false
    /// While set, the store holds outbox rows after this seq that the publisher has not taken
    /// yet (left from the last run, or found by a rescan); input and deadlines wait for them.
    var backlogAfter: Int64? = 0
    /// Input polled but not applied because the store refused it; applied again first.
    var heldBatch: [KafkaMessage]?
    /// Set when a transaction was fenced (another instance took one of the partitions): the
    /// whole assignment stays paused until the group assigns partitions anew.
    private(set) var awaitingAssignment = false

    init(shared: Bool, storedOffsets: [TopicPartition: Int64]) {
        self.shared = shared
        nextOffsets = storedOffsets
    }

    // MARK: Ownership

    /// The group assigned `partitions`: all start paused until their positions are read.
    mutating func assigned(_ partitions: [TopicPartition]) {
        paused = Set(partitions)
        unverified = []
        pauseReasons = [:]
        awaitingAssignment = false
    }

    /// The group revoked the assignment: what was polled is redelivered to the next owner.
    mutating func revoked(_ partitions: [TopicPartition]) {
        heldBatch = nil
        paused = []
        unverified = []
        unowned = nil
        pauseReasons = [:]
    }

    /// The store could not read the positions of `partitions`: they stay paused, and `owned`
    /// is tried again every turn.
    mutating func ownFailed(_ partitions: [TopicPartition], reason: String) {
        unowned = partitions
        for partition in partitions {
            paused.insert(partition)
            pauseReasons[partition] = "cannot read the partition's position from the store (\(reason)); retrying"
        }
    }

    /// The store made `partitions` this instance's and returned their stored positions (absent:
    /// never applied). Partitions with a position resume there; new ones wait for the
    /// group-offset check. `resuming` is false inside the assignment callback, which pauses and
    /// positions the partitions itself; otherwise the consumer is moved to the positions read.
    mutating func owned(
        _ partitions: [TopicPartition], positions: [TopicPartition: Int64], resuming: Bool
    ) -> [Action] {
        unowned = nil
        if shared { needsOutboxRescan = true }
        var resumed: [TopicPartition] = []
        var seeks: [TopicPartition: Int64] = [:]
        for partition in partitions {
            // Outside the assignment (after a fenced batch, or a failed read): the consumer may
            // have fetched past the position read now, so it is moved back there.
            seeks[partition] = positions[partition] ?? KafkaOffset.beginning
            if let next = positions[partition] {
                nextOffsets[partition] = next
                pauseReasons[partition] = nil
                if paused.remove(partition) != nil { resumed.append(partition) }
            } else {
                nextOffsets[partition] = nil
                unverified.insert(partition)
                paused.insert(partition)
                pauseReasons[partition] = "checking the group's committed offset (the store has no state for the partition)"
            }
        }
        guard resuming else { return [] }
        return [.seek(seeks)] + (resumed.isEmpty ? [] : [.resume(resumed)])
    }

    /// A transaction was fenced: another instance took one of this assignment's partitions
    /// (this one was paused, cut off, or slower than its session, and has not heard of the
    /// rebalance yet). Nothing of it was stored; the batch is dropped. Taking the partitions
    /// back would fence the instance the group gave them to, so the whole assignment stays
    /// paused, applies and fires nothing, until the group assigns partitions anew (the driver
    /// asks it to, and gives up the store's ownership meanwhile).
    mutating func fenced(_ assignment: [TopicPartition]) {
        heldBatch = nil
        unowned = nil
        unverified = []
        awaitingAssignment = true
        for partition in assignment {
            paused.insert(partition)
            pauseReasons[partition] = "another instance took a partition of this assignment; waiting for the group to assign anew"
        }
    }

    /// The group's committed offsets of the unverified partitions were read: those the group has
    /// not consumed either resume; the others stay paused with the reason.
    mutating func verified(_ committed: [TopicPartition: Int64]) -> (resume: [TopicPartition], refused: [TopicPartition]) {
        var resumed: [TopicPartition] = []
        var refused: [TopicPartition] = []
        for partition in unverified.sorted(by: { $0.description < $1.description }) {
            unverified.remove(partition)
            if let groupOffset = committed[partition], groupOffset > 0 {
                pauseReasons[partition] =
                    "group offset is \(groupOffset) but this store has no state for the partition; "
                    + "restore the store that applied it (or reset the group) before resuming"
                refused.append(partition)
            } else {
                paused.remove(partition)
                pauseReasons[partition] = nil
                resumed.append(partition)
            }
        }
        return (resumed, refused)
    }

    /// The group's offsets could not be read: the unverified partitions stay paused.
    mutating func verificationFailed(reason: String) {
        for partition in unverified {
            pauseReasons[partition] = "cannot read the group's committed offset (\(reason)); paused, retrying every second"
        }
    }

    // MARK: Input

    /// Whether a polled message is still to be applied here: not before the stored position
    /// (a redelivery after a rebalance or a lagging group commit) and not of a paused partition.
    func isFresh(_ message: KafkaMessage) -> Bool {
        let partition = TopicPartition(topic: message.topic, partition: message.partition)
        return message.offset >= nextOffsets[partition, default: 0] && !paused.contains(partition)
    }

    /// A batch was stored with these next offsets.
    mutating func applied(nextOffsets stored: [TopicPartition: Int64]) {
        nextOffsets.merge(stored) { _, stored in stored }
    }

    /// Whether input must wait: too much output unacknowledged, output left in the store not
    /// handed over yet, or a rescan of the outbox pending.
    func inputWaits(undelivered: Int, window: Int) -> Bool {
        undelivered >= window || backlogAfter != nil || needsOutboxRescan
    }

    /// Whether due deadlines may fire now: only once every older output of the owned partitions
    /// is handed over, so that (say) `blocked` never goes out before the `depleted` it follows.
    var deadlinesMayFire: Bool { !needsOutboxRescan && backlogAfter == nil && unowned == nil && !awaitingAssignment }

    // MARK: Output

    /// Starts the pending rescan once everything handed over is delivered: the outbox is read
    /// again from the start for the partitions owned now. Returns whether it started (the
    /// driver then resets the publisher's mark and the waiting account states).
    mutating func startRescan(undelivered: Int) -> Bool {
        guard needsOutboxRescan, undelivered == 0 else { return false }
        needsOutboxRescan = false
        backlogAfter = 0
        return true
    }
}
