import CreditsCore
import CreditsKafka
import CreditsStore
import Foundation
import Logging

/// Produces outbox messages in outbox order through a bounded window, and tells the pipeline how
/// far the delivered prefix reaches so the store can forget it.
///
/// - At most `window` messages are with the producer at once; the rest wait here, in order.
/// - A failed delivery stops new sends. Once every message in flight has its report, everything
///   from the first failed message on is sent again, in outbox order, after a backoff (100 ms,
///   doubling to 10 s). Messages after the failed one that had arrived are sent again too;
///   repeats keep their `event_id`. With the idempotent producer keeping each partition in send
///   order, a consumer that drops repeats sees each customer's events in order.
/// - Time is measured on the monotonic clock.
final class OutboxPublisher {
    private struct Slot {
        let seq: Int64
        /// Given to the producer and returned in the delivery report (a seq may repeat).
        let token: Int64
        /// Whether the delivered mark may move to `seq` once this slot and all before it are
        /// delivered: false inside a hand-over that holds records not stored in the outbox.
        let advancesMark: Bool
        /// Encoded once, when handed over (on all cores), and reused by every send; replaced by a
        /// bounded stand-in when the broker refuses it as too large (`OversizedOutput`).
        var message: OutboundMessage
        /// When the pipeline handed it over (monotonic nanoseconds).
        let enqueuedAt: UInt64
        var delivered = false
    }

    private let producer: any PipelineOutput
    private let clock: PipelineClock
    private let topics: ServiceConfiguration.Topics
    private let logger: Logger
    private let window: Int
    /// Undelivered messages in outbox order: `slots[head...]`; `slots[head..<sentEnd]` were sent.
    private var slots: [Slot] = []
    private var head = 0
    private var sentEnd = 0
    private(set) var inFlightCount = 0
    /// The earliest failed message of the current round, to send again from.
    private var firstFailure: Int?
    private var retryAt: UInt64 = 0
    private var backoffNanoseconds: UInt64 = OutboxPublisher.initialBackoff
    /// Highest seq whose whole prefix is delivered.
    private(set) var deliveredThrough: Int64 = 0
    private(set) var produceErrors = 0
    private var nextToken: Int64 = 1
    /// The seq of the newest record handed over.
    private var lastSeq: Int64 = 0
    /// Rows from this seq on hold the mark: states rebuilt from them are not handed over yet.
    private var openHold: Int64?
    /// Holds whose states were handed over: each ends when the slot with its token is delivered.
    private var handedHolds: [(from: Int64, releasedBy: Int64)] = []

    static let initialBackoff: UInt64 = 100_000_000
    static let maximumBackoff: UInt64 = 10_000_000_000

    init(
        output: any PipelineOutput, topics: ServiceConfiguration.Topics, window: Int, clock: PipelineClock = .system,
        logger: Logger
    ) {
        self.producer = output
        self.clock = clock
        self.topics = topics
        self.window = max(1, window)
        self.logger = logger
    }

    /// Messages handed over and not yet delivered (waiting, in flight or to be sent again).
    var undeliveredCount: Int { slots.count - head }

    /// Seconds since the oldest undelivered message was handed over; 0 when all are delivered.
    var oldestUndeliveredAge: Double {
        guard head < slots.count else { return 0 }
        return Double(clock.monotonicNanoseconds() - slots[head].enqueuedAt) / 1e9
    }

    /// Starts the delivered mark afresh, for a new sequence of records that may begin below the
    /// old mark (a shared store's outbox read again after a rebalance). Only when nothing is held.
    func resetDeliveredMark() {
        precondition(undeliveredCount == 0, "the delivered mark is reset only when nothing is undelivered")
        deliveredThrough = 0
        lastSeq = 0
        openHold = nil
        handedHolds.removeAll()
    }

    /// Keeps the delivered mark below `seq` (rows from `seq` on stay in the outbox) until the
    /// records of a later `publishHeld(_:stillHeldFrom:)` are delivered: for rows from which
    /// records not handed over yet would be rebuilt after a crash (account states sent later).
    func holdMark(from seq: Int64) {
        openHold = min(openHold ?? seq, seq)
    }

    /// Hands over `events` with no outbox row of their own (account states), after everything
    /// handed over so far and with its seq. The open hold ends once they are delivered, but for
    /// the rows from `stillHeldFrom` on: records still to come are rebuilt from those.
    func publishHeld(_ events: [OutputEvent], stillHeldFrom: Int64?) throws(KafkaError) {
        guard !events.isEmpty else { return }
        try publish(events.map { OutboxRecord(seq: lastSeq, event: $0, isStored: false) })
        if let openHold {
            handedHolds.append((from: openHold, releasedBy: nextToken - 1))
            self.openHold = stillHeldFrom
        }
    }

    /// The highest the mark may be while holds last.
    private var markCap: Int64 {
        let from = min(openHold ?? .max, handedHolds.first?.from ?? .max)
        return from == .max ? .max : from - 1
    }

    /// Takes `records` (whose seqs do not go below any earlier one) and sends what the window
    /// allows.
    ///
    /// When some records are not stored in the outbox (`OutboxRecord.isStored` false: the store
    /// rebuilds them from the stored rows they follow after a crash), the delivered mark passes the
    /// stored rows of this call only once the whole call is delivered, so that no row is forgotten
    /// while a record rebuilt from it is still undelivered.
    func publish(_ records: [OutboxRecord]) throws(KafkaError) {
        guard !records.isEmpty else { return }
        let now = clock.monotonicNanoseconds()
        let messages = Parallel.map(records) { $0.message }
        let allStored = records.allSatisfy(\.isStored)
        slots.reserveCapacity(slots.count + records.count)
        for (index, (record, message)) in zip(records, messages).enumerated() {
            slots.append(
                Slot(
                    seq: record.seq, token: nextToken, advancesMark: allStored || index == records.count - 1,
                    message: message, enqueuedAt: now))
            nextToken += 1
        }
        lastSeq = max(lastSeq, records[records.count - 1].seq)
        try pump()
    }

    /// Serves delivery reports for up to `timeoutMilliseconds` and sends what the window allows;
    /// `deliveredThrough` tells how far the delivered prefix now reaches.
    func serveDeliveries(timeoutMilliseconds: Int32) throws(KafkaError) {
        absorb(producer.pollDeliveries(timeoutMilliseconds: timeoutMilliseconds))
        try pump()
    }

    /// Keeps sending and serving reports until every message is delivered or `deadline`
    /// (monotonic nanoseconds) passes.
    func drain(until deadline: UInt64) throws(KafkaError) {
        while undeliveredCount > 0 && clock.monotonicNanoseconds() < deadline {
            try serveDeliveries(timeoutMilliseconds: 50)
        }
    }

    /// Sends waiting messages while the window has room; after a failure, first waits for every
    /// report and the backoff, then starts again from the failed message.
    private func pump() throws(KafkaError) {
        if let failure = firstFailure {
            guard inFlightCount == 0, clock.monotonicNanoseconds() >= retryAt else { return }
            for index in failure..<sentEnd { slots[index].delivered = false }
            sentEnd = failure
            firstFailure = nil
            logger.info(
                "Sending output messages again from the first failed one",
                metadata: ["seq": "\(slots[failure].seq)", "messages": "\(slots.count - failure)"])
        }
        var reports: [KafkaDelivery] = []
        while sentEnd < slots.count && inFlightCount < window && firstFailure == nil {
            let slot = slots[sentEnd]
            do {
                try producer.send(
                    topic: topics.name(of: slot.message.topic), key: slot.message.key, value: slot.message.value,
                    token: slot.token, reports: &reports)
            } catch let error where error.isTooLarge {
                // Never sendable as it is: one message must not stop all output (nor every restart).
                replaceOversized(at: sentEnd, reason: "\(error)")
                continue
            }
            sentEnd += 1
            inFlightCount += 1
            if !reports.isEmpty {
                absorb(reports)
                reports.removeAll()
            }
        }
    }

    private func absorb(_ reports: [KafkaDelivery]) {
        for report in reports {
            guard let index = position(of: report.token) else { continue }
            inFlightCount -= 1
            if let error = report.error {
                produceErrors += 1
                if report.isTooLarge { replaceOversized(at: index, reason: error) }
                if firstFailure == nil {
                    retryAt = clock.monotonicNanoseconds() + backoffNanoseconds
                    logger.warning(
                        "Output message not delivered; holding newer ones and sending again in order",
                        metadata: [
                            "seq": "\(slots[index].seq)", "error": "\(error)",
                            "topic": "\(topics.name(of: slots[index].message.topic))",
                            "retry_in_ms": "\(backoffNanoseconds / 1_000_000)",
                        ])
                    backoffNanoseconds = min(backoffNanoseconds * 2, Self.maximumBackoff)
                }
                firstFailure = min(firstFailure ?? index, index)
            } else {
                slots[index].delivered = true
            }
        }
        advanceDeliveredPrefix()
    }

    /// Puts a bounded stand-in in place of a message the broker will never take (sent again in
    /// order with the rest). Every output the ledger makes is bounded by construction; this is
    /// for rows an older version stored, and for a broker whose message size is set very low.
    private func replaceOversized(at index: Int, reason: String) {
        let original = slots[index].message
        guard !OversizedOutput.isStandIn(original) else { return }
        slots[index].message = OversizedOutput.standIn(for: original, topicName: topics.name(of: original.topic))
        logger.error(
            "Output message too large for the broker; sending a bounded stand-in that names it",
            metadata: [
                "topic": "\(topics.name(of: original.topic))", "bytes": "\(original.value.utf8.count)",
                "seq": "\(slots[index].seq)", "error": "\(reason)",
            ])
    }

    private func advanceDeliveredPrefix() {
        let start = head
        while head < sentEnd, slots[head].delivered, head != firstFailure {
            let slot = slots[head]
            if let hold = handedHolds.first, hold.releasedBy == slot.token { handedHolds.removeFirst() }
            if slot.advancesMark { deliveredThrough = max(deliveredThrough, min(slot.seq, markCap)) }
            head += 1
        }
        if head > start { backoffNanoseconds = Self.initialBackoff }
        if head > 4096 && head * 2 > slots.count {
            slots.removeFirst(head)
            sentEnd -= head
            firstFailure = firstFailure.map { $0 - head }
            head = 0
        }
    }

    /// The index of the sent slot with `token` (tokens increase along `slots`).
    private func position(of token: Int64) -> Int? {
        var low = head
        var high = sentEnd
        while low < high {
            let middle = (low + high) / 2
            if slots[middle].token < token { low = middle + 1 } else { high = middle }
        }
        return low < sentEnd && slots[low].token == token ? low : nil
    }
}
