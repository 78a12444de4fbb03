import CreditsCore
import CreditsKafka
import CreditsPostgres
import CreditsStore
import Foundation
import Logging

/// The service loop, on one thread: poll a batch, decode, apply it in one store transaction
/// (entries, idempotency keys, outbox, offsets together), produce the outbox, commit offsets to
/// the group, fire due grace deadlines, and forget delivered outbox messages.
public final class LedgerPipeline: KafkaRebalanceListener {
    private let configuration: ServiceConfiguration
    private let store: any LedgerWriter
    private let publisher: OutboxPublisher
    private var consumer: (any PipelineInput)?
    private let status: ServiceStatus
    private let metrics: PipelineMetrics
    private let logger: Logger
    private let clock: PipelineClock
    /// Partitions, positions and the order of input and output: the decisions, without I/O.
    private var state: PipelineState
    private var lastDeleted: Int64 = 0
    private var nextVerification: UInt64 = 0
    /// Account states waiting for `accounts.publish_interval_ms` (their rows hold the mark).
    private var accountStates = AccountStateBuffer()
    /// Due account states go out in slices at most every tenth of the publish interval (100 ms at
    /// the default), so that each produce request carries many of them.
    private var nextAccountStateSlice: UInt64 = 0
    private var storeError: StoreError?
    private var nextStoreAttempt: UInt64 = 0
    private var storeBackoffNanoseconds: UInt64 = 1_000_000_000
    /// Set when commands must be signed.
    private let signatures: CommandSignatures?
    private var reportedProduceErrors = 0
    private var lastGaugeUpdate: UInt64 = 0
    private var lastStateCount: UInt64 = 0
    private var lastPrune: UInt64 = 0
    /// Batches refused because another instance had applied one of their partitions.
    public private(set) var fencedBatches = 0
    /// Batches of at least this many messages are decoded on another thread while the store
    /// applies their first messages (`DecodingBatch`); the simulator lowers it so that its small
    /// batches take that path too.
    public var decodeOverlapFrom = DecodingBatch<CommandSignatures.Outcome?>.defaultOverlapFrom

    /// Output messages handed to the producer and not yet delivered.
    public var undeliveredOutput: Int { publisher.undeliveredCount }

    convenience init(
        configuration: ServiceConfiguration, bootstrapServers: String, status: ServiceStatus,
        metrics: PipelineMetrics, logger: Logger, wallClockAheadSeconds: Int64 = 0
    ) throws {
        let store = try Self.openStore(configuration, logger: logger)
        if configuration.usesEmbeddedBroker, !(try store.consumedOffsets().isEmpty) {
            // The embedded broker starts with empty topics each run: offsets from an earlier run
            // point past their end. Start over; idempotency keys still catch repeats.
            try store.forgetConsumedOffsets()
            logger.info("Embedded broker: offsets of the previous run forgotten")
        }
        let settings = configuration.kafkaSettings(bootstrapServers: bootstrapServers)
        // Where to start is always explicit (the store's offset, or the beginning of a new
        // partition); an offset that no longer exists must stop the partition, not skip data.
        var consumerSettings = settings
        consumerSettings.properties = configuration.consumerProperties.merging(settings.properties) { _, given in given }
        consumerSettings.properties["auto.offset.reset"] = "error"
        let headerNames = configuration.requireCommandSignature ? [CommandSignatures.headerName] : []
        try self.init(
            configuration: configuration, store: store,
            output: try KafkaProducer(settings: Self.outboxProducerSettings(settings), logger: logger),
            clock: .system(aheadBySeconds: wallClockAheadSeconds), status: status, metrics: metrics, logger: logger
        ) { listener in
            try KafkaConsumer(
                settings: consumerSettings, groupID: configuration.groupID,
                topics: [configuration.topics.usage, configuration.topics.commands],
                listener: listener, headerNames: headerNames, logger: logger)
        }
    }

    /// The outbox producer's settings: no message timeout unless `kafka.properties` sets one.
    /// librdkafka fails a message whose `message.timeout.ms` passes while it waits in the queue
    /// (a broker outage longer than the timeout) yet still writes the later ones of the
    /// partition when the broker returns (its documented gap; `enable.gapless.guarantee` does
    /// not cover timeouts). The publisher sends the failed ones again, so nothing is lost, but a
    /// consumer would then see a later entry first. Without a timeout the idempotent producer
    /// retries in order until the broker takes the messages; the publisher's window bounds what
    /// waits, and readiness reports the stall (`pipeline.output_stall_ms`).
    public static func outboxProducerSettings(_ settings: KafkaClientSettings) -> KafkaClientSettings {
        var settings = settings
        if settings.properties["message.timeout.ms"] == nil && settings.properties["delivery.timeout.ms"] == nil {
            settings.properties["message.timeout.ms"] = "0"
        }
        return settings
    }

    /// A pipeline over `store`, reading through the input `makeInput` returns (a group member
    /// that calls the pipeline back on rebalances) and producing to `output`, on `clock`.
    public init(
        configuration: ServiceConfiguration, store: any LedgerWriter, output: any PipelineOutput,
        clock: PipelineClock, status: ServiceStatus, metrics: PipelineMetrics, logger: Logger,
        makeInput: (KafkaRebalanceListener) throws -> any PipelineInput
    ) throws {
        self.configuration = configuration
        signatures = configuration.requireCommandSignature ? CommandSignatures(keys: configuration.signingKeys) : nil
        self.status = status
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        self.store = store
        state = PipelineState(shared: store.isShared, storedOffsets: try store.consumedOffsets())
        publisher = OutboxPublisher(
            output: output, topics: configuration.topics, window: configuration.maxInFlight, clock: clock,
            logger: logger)
        status.update { $0.storeOpen = true }
        logger.info("Store open", metadata: ["store": "\(store.summary)"])
        consumer = try makeInput(self)
    }

    /// The shared PostgreSQL store when `store.url` is set, else the SQLite file.
    static func openStore(_ configuration: ServiceConfiguration, logger: Logger) throws -> any LedgerWriter {
        let ledger = Ledger(configuration: configuration.ledgerRules)
        if let url = configuration.storeURL {
            return try PostgresLedgerStore(url: url, ledger: ledger, logger: logger)
        }
        let directory = (configuration.storePath as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        var options = LedgerStore.Options()
        options.synchronousFull = configuration.storeSynchronous == .full
        return try LedgerStore(path: configuration.storePath, ledger: ledger, options: options)
    }

    /// Runs until `stop` is set, then stops within `shutdown.timeout_ms` whatever the cluster's
    /// state: the batch in hand is already committed to the store; output is flushed for up to
    /// three quarters of the time and the group left in the rest. What needs an unreachable
    /// cluster is given up: undelivered output stays in the outbox for the next start, and the
    /// offsets are in the store.
    public func run(until stop: StopSignal) throws {
        while !stop.isStopped {
            try step(until: stop)
        }
        status.update { $0.stopping = true }
        let started = clock.monotonicNanoseconds()
        let budget = UInt64(configuration.shutdownTimeoutMilliseconds) * 1_000_000
        logger.info(
            "Stopping: flushing output messages",
            metadata: [
                "undelivered": "\(publisher.undeliveredCount)",
                "timeout_ms": "\(configuration.shutdownTimeoutMilliseconds)",
            ])
        do {
            try publishAccountStates(everything: true)
        } catch {
            logger.warning(
                "Could not hand over the last account states; they are sent at the next start", metadata: ["error": "\(error)"])
        }
        try publisher.drain(until: started + budget / 4 * 3)
        do {
            try forgetDelivered(through: publisher.deliveredThrough)
        } catch {
            logger.warning(
                "Could not record the delivered output; it is sent again at the next start",
                metadata: ["error": "\(error)"])
        }
        let now = clock.monotonicNanoseconds()
        let remaining = now < started + budget ? Int((started + budget - now) / 1_000_000) : 0
        let leftGroup = consumer?.close(timeoutMilliseconds: max(500, remaining)) ?? true
        consumer = nil
        let left = (try? store.outboxDepth()).map(String.init) ?? "unknown"
        store.close()
        if leftGroup && publisher.undeliveredCount == 0 {
            logger.info("Stopped", metadata: ["outbox_left": "\(left)"])
        } else {
            logger.warning(
                "Stopped without the cluster: what is left is kept for the next start",
                metadata: [
                    "undelivered_output": "\(publisher.undeliveredCount)", "outbox_left": "\(left)",
                    "left_group": "\(leftGroup)", "offsets": "in the store",
                ])
        }
    }

    /// One turn of the loop. A store that refuses work does not end the loop: see `storeFailed`.
    public func step(until stop: StopSignal) throws {
        if storeError != nil && clock.monotonicNanoseconds() < nextStoreAttempt {
            try publisher.serveDeliveries(timeoutMilliseconds: 100)
            reportOutputStall()
            return
        }
        do {
            try stepWithStore(until: stop)
            if storeError != nil { storeRecovered() }
        } catch let error as StoreError where error.isFenced {
            fenced(error)
        } catch let error as StoreError {
            storeFailed(error)
        }
    }

    /// Another instance took a partition of this one's assignment (this one was paused, cut off,
    /// or slower than its session, and has not heard of the rebalance yet). Nothing of the
    /// transaction was stored. Taking the partitions back would fence the instance the group gave
    /// them to; instead this one gives them up, pauses, and asks the group for a new assignment.
    private func fenced(_ error: StoreError) {
        metrics.fenced()
        fencedBatches += 1
        state.fenced(Array(consumer?.assignment ?? []))
        store.release()
        logger.warning(
            "Fenced: another instance took a partition of this one's assignment; rejoining the group",
            metadata: ["reason": "\(error.message)"])
        do {
            try consumer?.rejoin()
        } catch {
            logger.error("Asking the group for a new assignment failed", metadata: ["error": "\(error)"])
        }
        publishPauseReasons(assigned: nil)
    }

    private func stepWithStore(until stop: StopSignal) throws {
        // Backpressure: stop taking input while too much output is unacknowledged, and until the
        // output left from the last run is handed over.
        while state.inputWaits(undelivered: publisher.undeliveredCount, window: configuration.maxInFlight) {
            guard !stop.isStopped else { return }
            if state.startRescan(undelivered: publisher.undeliveredCount) {
                // Everything handed over is delivered: read the owned partitions' outbox afresh.
                // Waiting states are rebuilt from their rows, which their hold kept.
                accountStates.clear()
                publisher.resetDeliveredMark()
                lastDeleted = 0
            }
            try takeBacklog()
            reportOutputStall()
            try publisher.serveDeliveries(timeoutMilliseconds: 100)
            try forgetDelivered(through: publisher.deliveredThrough)
        }
        reportOutputStall()
        // A batch the store refused is applied again before anything new is taken.
        let messages =
            state.heldBatch ?? consumer?.poll(
                maxMessages: configuration.batchMaxMessages,
                timeoutMilliseconds: configuration.pollTimeoutMilliseconds) ?? []
        if !messages.isEmpty {
            state.heldBatch = messages
            // A new assignment came with this poll: its partitions' old output goes out first.
            guard !state.needsOutboxRescan else { return }
            try apply(messages)
            state.heldBatch = nil
        }
        if let unowned = state.unowned { takeOwnership(of: unowned) }
        verifyNewPartitions()
        if state.deadlinesMayFire { try fireDeadlines() }
        try pruneIdempotencyKeys()
        try publishAccountStates()
        try publisher.serveDeliveries(timeoutMilliseconds: 0)
        try forgetDelivered(through: publisher.deliveredThrough)
        try updateGauges()
    }

    /// The store refused work (its transaction rolled back, so nothing of it is applied): readiness
    /// turns 503 with the reason, and the work is tried again after a backoff (1 s doubling to 30 s).
    private func storeFailed(_ error: StoreError) {
        storeError = error
        nextStoreAttempt = clock.monotonicNanoseconds() + storeBackoffNanoseconds
        logger.error(
            "The store cannot be written; holding the batch in hand and retrying",
            metadata: [
                "error": "\(error)", "retry_in_ms": "\(storeBackoffNanoseconds / 1_000_000)",
                "held_messages": "\(state.heldBatch?.count ?? 0)",
            ])
        storeBackoffNanoseconds = min(storeBackoffNanoseconds * 2, 30_000_000_000)
        status.update { $0.storeError = "\(error)" }
    }

    private func storeRecovered() {
        storeError = nil
        storeBackoffNanoseconds = 1_000_000_000
        logger.notice("The store takes writes again")
        status.update { $0.storeError = nil }
    }

    /// Slow-moving gauges, refreshed once a second.
    private func updateGauges() throws {
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastGaugeUpdate > 1_000_000_000 else { return }
        lastGaugeUpdate = now
        metrics.outboxInFlight(publisher.inFlightCount)
        metrics.oldestUndelivered(seconds: publisher.oldestUndeliveredAge)
        metrics.outboxDepth(try store.outboxDepth())
        metrics.produceErrors(total: publisher.produceErrors, reported: &reportedProduceErrors)
        // Counting customers by state scans the customers table: every second on the embedded
        // store, every 30 s on a shared one (every instance counts the same table).
        if !store.isShared || now - lastStateCount > 30_000_000_000 {
            lastStateCount = now
            metrics.blockStates(try store.blockStateCounts())
            metrics.liveCalls(try store.liveCallTotals())
        }
        if let consumer {
            for partition in consumer.assignment {
                if let lag = consumer.lag(of: partition, nextOffset: state.nextOffsets[partition] ?? 0) {
                    metrics.lag(partition.description, lag)
                }
            }
        }
    }

    private func apply(_ messages: [KafkaMessage]) throws {
        let started = DispatchTime.now().uptimeNanoseconds
        // Already applied (redelivery after a rebalance or a lagging group commit), or paused.
        let fresh = messages.filter { state.isFresh($0) }
        guard !fresh.isEmpty else { return }
        let usageTopic = configuration.topics.usage
        let signatures = signatures
        // Decoded on another thread while the store applies the first messages (a store that
        // needs the whole batch first gets it decoded at once, on every core).
        let overlapFrom = store.appliesWhileDecoding ? decodeOverlapFrom : .max
        let batch = DecodingBatch(count: fresh.count, overlapFrom: overlapFrom) {
            index -> (InboundMessage, CommandSignatures.Outcome?) in
            let message = fresh[index]
            let kind: InputKind = message.topic == usageTopic ? .usage : .command
            // An empty key counts as no key.
            let key = message.key.flatMap { $0.isEmpty ? nil : String(decoding: $0, as: UTF8.self) }
            var input = InputDecoder.decode(kind, key: key, payload: message.value)
            var outcome: CommandSignatures.Outcome?
            if kind == .command, let signatures {
                let verdict = signatures.verify(value: message.value, header: message.headers[CommandSignatures.headerName])
                if verdict != .valid { input = input.refused(InputError(.unauthorized, Self.refusal(verdict))) }
                outcome = verdict
            }
            let origin = MessageOrigin(
                topic: message.topic, partition: message.partition, offset: message.offset,
                key: key, payload: message.value)
            return (InboundMessage(origin: origin, input: input), outcome)
        }
        let report = try store.apply(decoding: batch, at: clock.wall())
        for index in 0..<batch.count { if let outcome = batch.note(at: index) { metrics.signature(outcome) } }
        state.applied(nextOffsets: report.nextOffsets)
        try hand(report)
        do {
            try consumer?.commit(report.nextOffsets)
        } catch {
            // The store holds the offsets; the group's copy is for lag and hand-over only.
            logger.warning("Committing offsets to the group failed", metadata: ["error": "\(error)"])
        }
        metrics.batchApplied(
            report, consumedFrom: fresh.map(\.topic), seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        for (code, count) in report.deadLettered {
            logger.debug("Dead-lettered inputs", metadata: ["reason": "\(code.rawValue)", "count": "\(count)"])
        }
    }

    /// The dead letter's message for a command refused for its signature.
    static func refusal(_ outcome: CommandSignatures.Outcome) -> String {
        switch outcome {
        case .valid: "signed"
        case .missing: "no \(CommandSignatures.headerName) header: this service accepts signed commands only"
        case .malformed: "the \(CommandSignatures.headerName) header is not <key_id>:<64 hex digits of HMAC-SHA256>"
        case .unknownKey: "the \(CommandSignatures.headerName) header names a key this service does not have"
        case .wrong: "the signature does not match the command (another key, or the value was changed)"
        }
    }

    private func fireDeadlines() throws {
        let now = clock.wall()
        guard let next = try store.nextDeadline(), next <= now else { return }
        let report = try store.fireDueDeadlines(at: now)
        if report.deadlinesFired > 0 {
            logger.info(
                "Deadlines fired (grace periods ended, call holds lapsed, credits expired)",
                metadata: ["customers": "\(report.deadlinesFired)"])
        }
        metrics.ledgerEvents(report)
        try hand(report)
    }

    /// Hands a batch's output to the publisher; its account states wait in `accountStates` (the
    /// batch's rows keep the mark below them until they are delivered).
    private func hand(_ report: BatchReport) throws {
        try publisher.publish(report.outbox)
        guard !report.changedAccounts.isEmpty, let first = report.outbox.first?.seq else { return }
        accountStates.add(report.changedAccounts, fromSeq: first, at: clock.monotonicNanoseconds())
        publisher.holdMark(from: first)
        try publishAccountStates()
    }

    /// Sends the account states that have waited the interval (all of them with `everything`),
    /// at most every tenth of the interval; the rows of those still waiting stay held.
    private func publishAccountStates(everything: Bool = false) throws {
        let now = clock.monotonicNanoseconds()
        guard everything || now >= nextAccountStateSlice else { return }
        let interval = UInt64(configuration.accountsPublishIntervalMilliseconds) * 1_000_000
        let due = accountStates.due(at: now, intervalNanoseconds: interval, everything: everything)
        guard !due.isEmpty else { return }
        nextAccountStateSlice = now + interval / 10
        let states = try store.accountStates(of: due)
        accountStates.removeDue(due.count)
        try publisher.publishHeld(states.map { .account($0) }, stillHeldFrom: accountStates.heldFrom)
    }

    /// With a key retention configured: forgets old event_ids and command_ids every 10 minutes.
    private func pruneIdempotencyKeys() throws {
        let days = configuration.idempotencyRetentionDays
        let now = DispatchTime.now().uptimeNanoseconds
        guard days > 0, lastPrune == 0 || now - lastPrune > 600_000_000_000 else { return }
        lastPrune = now
        let pruned = try store.pruneIdempotencyKeys(recordedBefore: clock.wall().adding(seconds: -Int64(days) * 86_400))
        if pruned > 0 {
            logger.info("Forgot idempotency keys past the retention", metadata: ["count": "\(pruned)", "days": "\(days)"])
        }
    }

    /// Hands the publisher the next page of output left from the last run, as its window allows.
    private func takeBacklog() throws {
        guard let after = state.backlogAfter else { return }
        let room = configuration.maxInFlight - publisher.undeliveredCount
        guard room > 0 else { return }
        let records = try store.pendingOutbox(after: after, limit: min(room, 10_000))
        guard let last = records.last else {
            state.backlogAfter = nil
            return
        }
        if after == 0 {
            let depth = try store.outboxDepth()
            logger.info("Publishing output messages left from the last run", metadata: ["outbox": "\(depth)"])
        }
        try publisher.publish(records)
        state.backlogAfter = last.seq
    }

    /// Readiness reports an output that has not delivered its oldest message for too long.
    private func reportOutputStall() {
        let age = publisher.oldestUndeliveredAge
        let stalled = age * 1000 >= Double(configuration.outputStallMilliseconds)
        guard stalled != status.snapshot.outputStalled else { return }
        status.update { $0.outputStalled = stalled }
        if stalled {
            logger.error(
                "Output stalled: the oldest output message is still undelivered",
                metadata: ["seconds": "\(Int(age))", "undelivered": "\(publisher.undeliveredCount)"])
        } else {
            logger.notice("Output delivering again")
        }
    }

    private func forgetDelivered(through seq: Int64) throws {
        guard seq > lastDeleted else { return }
        try store.markDelivered(through: seq)
        lastDeleted = seq
    }

    // MARK: KafkaRebalanceListener

    public func partitionsAssigned(_ partitions: [TopicPartition])
        -> (start: [TopicPartition: Int64], paused: Set<TopicPartition>)
    {
        status.update { $0.joinedGroup = true }
        // Every partition starts paused from the beginning; `takeOwnership` reads the stored
        // positions, seeks there and resumes (messages before a position are skipped anyway).
        var start: [TopicPartition: Int64] = [:]
        for partition in partitions { start[partition] = KafkaOffset.beginning }
        state.assigned(partitions)
        let positions = takeOwnership(of: partitions, resuming: false)
        if let positions {
            for (partition, next) in positions { start[partition] = next }
        }
        logger.info("Partitions assigned", metadata: ["partitions": "\(partitions.map(\.description).sorted())"])
        publishPauseReasons(assigned: partitions)
        return (start, state.paused)
    }

    /// Reads the stored positions of `partitions` and makes them this instance's: partitions with
    /// a position are resumed there, new ones wait for the group-offset check. When the store
    /// cannot be read, all stay paused and the read is repeated every turn of the loop.
    @discardableResult
    private func takeOwnership(of partitions: [TopicPartition], resuming: Bool = true) -> [TopicPartition: Int64]? {
        let positions: [TopicPartition: Int64]
        do {
            positions = try store.own(partitions)
        } catch {
            if state.unowned == nil {
                logger.error(
                    "Cannot read the partitions' positions from the store; they stay paused",
                    metadata: ["error": "\(error)"])
            }
            state.ownFailed(partitions, reason: "\(error)")
            publishPauseReasons(assigned: nil)
            return nil
        }
        nextVerification = 0
        perform(state.owned(partitions, positions: positions, resuming: resuming))
        publishPauseReasons(assigned: nil)
        return positions
    }

    /// Performs the state's actions with the consumer.
    private func perform(_ actions: [PipelineState.Action]) {
        for action in actions {
            switch action {
            case .resume(let partitions): consumer?.resume(partitions)
            case .seek(let offsets):
                do {
                    try consumer?.seek(offsets)
                } catch {
                    logger.error("Seeking to the stored positions failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Reads the group's committed offset of partitions new to this store, and resumes those the
    /// group has not consumed either. Fails closed: a partition whose offset cannot be read stays
    /// paused, and the check is repeated every second.
    private func verifyNewPartitions() {
        guard !state.unverified.isEmpty, let consumer, clock.monotonicNanoseconds() >= nextVerification else { return }
        let partitions = state.unverified.sorted { $0.description < $1.description }
        do {
            let committed = try consumer.committedOffsets(partitions, timeoutMilliseconds: 2_000)
            let outcome = state.verified(committed)
            for partition in outcome.refused {
                logger.error(
                    "Partition paused",
                    metadata: ["partition": "\(partition)", "reason": "\(state.pauseReasons[partition] ?? "")"])
            }
            consumer.resume(outcome.resume)
            startLookUp(outcome.resume)
        } catch {
            nextVerification = clock.monotonicNanoseconds() + 1_000_000_000
            state.verificationFailed(reason: "\(error)")
            logger.warning(
                "Group offsets unreadable; new partitions stay paused",
                metadata: ["partitions": "\(partitions.map(\.description))", "error": "\(error)"])
        }
        publishPauseReasons(assigned: nil)
    }

    /// Seeks partitions just resumed to the beginning they were assigned at, so that their first
    /// fetch starts now. librdkafka looked that offset up when they were assigned; its answer came
    /// back after the pause and was dropped as outdated, and the look-up is only retried half a
    /// second later. Seeking after the resume looks it up again at once (the seek drops nothing:
    /// a partition new to the store has fetched nothing yet). Should the seek fail, the retry
    /// still starts the partition.
    private func startLookUp(_ resumed: [TopicPartition]) {
        guard let consumer, !resumed.isEmpty else { return }
        do {
            try consumer.seek(Dictionary(uniqueKeysWithValues: resumed.map { ($0, KafkaOffset.beginning) }))
        } catch {
            logger.notice(
                "Seeking resumed partitions to their beginning failed; they start after librdkafka's retry",
                metadata: ["error": "\(error)"])
        }
    }

    private func publishPauseReasons(assigned: [TopicPartition]?) {
        let reasons = Dictionary(uniqueKeysWithValues: state.pauseReasons.map { ($0.key.description, $0.value) })
        status.update { snapshot in
            if let assigned { snapshot.assignedPartitions = assigned.map(\.description).sorted() }
            snapshot.pausedPartitions = reasons
        }
    }

    public func partitionsRevoked(_ partitions: [TopicPartition]) {
        state.revoked(partitions)
        store.release()
        status.update {
            $0.assignedPartitions = []
            $0.pausedPartitions = [:]
        }
        logger.info("Partitions revoked", metadata: ["partitions": "\(partitions.map(\.description).sorted())"])
    }
}
