import CreditsCore
import CreditsKafka
import CreditsPostgres
import CreditsStore
import Foundation
import Logging

/// The service loop, on one thread: poll a batch, decode, apply it in one store transaction
/// (entries, idempotency keys, outbox, offsets together), produce the outbox, commit offsets to
/// the group, fire due grace deadlines, and forget delivered outbox messages.
final class LedgerPipeline: KafkaRebalanceListener {
    private let configuration: ServiceConfiguration
    private let store: any LedgerWriter
    private let publisher: OutboxPublisher
    private var consumer: KafkaConsumer?
    private let status: ServiceStatus
    private let metrics: PipelineMetrics
    private let logger: Logger
    /// Next offset to apply per partition, as the store holds it.
    private var nextOffsets: [TopicPartition: Int64]
    private var lastDeleted: Int64 = 0
    /// While set, the store holds outbox messages after this seq that the publisher has not taken
    /// yet (left from the last run); input waits until they are all handed over, in order.
    private var backlogAfter: Int64? = 0
    private var paused = Set<TopicPartition>()
    /// Assigned partitions this store has no offset for, paused until the group's committed offset
    /// is read (outside the rebalance callback): none or 0 means a new partition, anything else
    /// that another store applied it.
    private var unverified = Set<TopicPartition>()
    private var nextVerification: UInt64 = 0
    private var pauseReasons: [TopicPartition: String] = [:]
    /// An assignment whose stored positions could not be read yet (the store was unreachable):
    /// its partitions stay paused until `own` succeeds.
    private var unowned: [TopicPartition]?
    /// Shared store: after an assignment (or a fenced batch) the outbox is read again for the
    /// partitions now owned, once the publisher has handed over what it holds, before any input.
    private var needsOutboxRescan = false
    /// Input polled but not applied because the store refused it; applied again first.
    private var heldBatch: [KafkaMessage]?
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

    init(
        configuration: ServiceConfiguration, bootstrapServers: String, status: ServiceStatus,
        metrics: PipelineMetrics, logger: Logger
    ) throws {
        self.configuration = configuration
        signatures = configuration.requireCommandSignature ? CommandSignatures(keys: configuration.signingKeys) : nil
        self.status = status
        self.metrics = metrics
        self.logger = logger
        store = try Self.openStore(configuration, logger: logger)
        if configuration.usesEmbeddedBroker, !(try store.consumedOffsets().isEmpty) {
            // The embedded broker starts with empty topics each run: offsets from an earlier run
            // point past their end. Start over; idempotency keys still catch repeats.
            try store.forgetConsumedOffsets()
            logger.info("Embedded broker: offsets of the previous run forgotten")
        }
        nextOffsets = try store.consumedOffsets()
        let settings = configuration.kafkaSettings(bootstrapServers: bootstrapServers)
        // Where to start is always explicit (the store's offset, or the beginning of a new
        // partition); an offset that no longer exists must stop the partition, not skip data.
        var consumerSettings = settings
        consumerSettings.properties = configuration.consumerProperties.merging(settings.properties) { _, given in given }
        consumerSettings.properties["auto.offset.reset"] = "error"
        publisher = OutboxPublisher(
            producer: try KafkaProducer(settings: settings, logger: logger),
            topics: configuration.topics, window: configuration.maxInFlight, logger: logger)
        status.update { $0.storeOpen = true }
        logger.info("Store open", metadata: ["store": "\(store.summary)"])
        consumer = try KafkaConsumer(
            settings: consumerSettings, groupID: configuration.groupID,
            topics: [configuration.topics.usage, configuration.topics.commands],
            listener: self, headerNames: signatures == nil ? [] : [CommandSignatures.headerName],
            logger: logger)
    }

    /// The shared PostgreSQL store when `store.url` is set, else the SQLite file.
    private static func openStore(_ configuration: ServiceConfiguration, logger: Logger) throws -> any LedgerWriter {
        let ledger = Ledger(configuration: configuration.ledger)
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
    func run(until stop: StopSignal) throws {
        while !stop.isStopped {
            try step(until: stop)
        }
        status.update { $0.stopping = true }
        let started = MonotonicClock.now()
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
        let now = MonotonicClock.now()
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
    func step(until stop: StopSignal) throws {
        if storeError != nil && MonotonicClock.now() < nextStoreAttempt {
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

    /// Another instance applied a partition of the batch after this one read its position (this
    /// one was paused, cut off, or slower than its session). Nothing of the batch was stored; the
    /// positions are read again, and the outbox with them, before anything more is applied.
    private func fenced(_ error: StoreError) {
        metrics.fenced()
        heldBatch = nil
        logger.warning(
            "Batch fenced: another instance owns a partition now; positions read again",
            metadata: ["reason": "\(error.message)"])
        if let consumer { takeOwnership(of: Array(consumer.assignment)) }
    }

    private func stepWithStore(until stop: StopSignal) throws {
        // Backpressure: stop taking input while too much output is unacknowledged, and until the
        // output left from the last run is handed over.
        while publisher.undeliveredCount >= configuration.maxInFlight || backlogAfter != nil || needsOutboxRescan {
            guard !stop.isStopped else { return }
            if needsOutboxRescan && publisher.undeliveredCount == 0 {
                // Everything handed over is delivered: read the owned partitions' outbox afresh.
                needsOutboxRescan = false
                // Waiting states are rebuilt from their rows, which their hold kept.
                accountStates.clear()
                publisher.resetDeliveredMark()
                lastDeleted = 0
                backlogAfter = 0
            }
            try takeBacklog()
            reportOutputStall()
            try publisher.serveDeliveries(timeoutMilliseconds: 100)
            try forgetDelivered(through: publisher.deliveredThrough)
        }
        reportOutputStall()
        // A batch the store refused is applied again before anything new is taken.
        let messages =
            heldBatch ?? consumer?.poll(
                maxMessages: configuration.batchMaxMessages,
                timeoutMilliseconds: configuration.pollTimeoutMilliseconds) ?? []
        if !messages.isEmpty {
            heldBatch = messages
            // A new assignment came with this poll: its partitions' old output goes out first.
            guard !needsOutboxRescan else { return }
            try apply(messages)
            heldBatch = nil
        }
        if let unowned { takeOwnership(of: unowned) }
        verifyNewPartitions()
        try fireGraceDeadlines()
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
        nextStoreAttempt = MonotonicClock.now() + storeBackoffNanoseconds
        logger.error(
            "The store cannot be written; holding the batch in hand and retrying",
            metadata: [
                "error": "\(error)", "retry_in_ms": "\(storeBackoffNanoseconds / 1_000_000)",
                "held_messages": "\(heldBatch?.count ?? 0)",
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
        }
        if let consumer {
            for partition in consumer.assignment {
                if let lag = consumer.lag(of: partition, nextOffset: nextOffsets[partition] ?? 0) {
                    metrics.lag(partition.description, lag)
                }
            }
        }
    }

    private func apply(_ messages: [KafkaMessage]) throws {
        let started = DispatchTime.now().uptimeNanoseconds
        // Already applied (redelivery after a rebalance or a lagging group commit), or paused.
        let fresh = messages.filter { message in
            let partition = TopicPartition(topic: message.topic, partition: message.partition)
            return message.offset >= nextOffsets[partition, default: 0] && !paused.contains(partition)
        }
        let usageTopic = configuration.topics.usage
        let signatures = signatures
        let decoded = Parallel.map(fresh) { message -> (InboundMessage, CommandSignatures.Outcome?) in
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
        for (_, outcome) in decoded { if let outcome { metrics.signature(outcome) } }
        let batch = decoded.map(\.0)
        guard !batch.isEmpty else { return }
        let report = try store.apply(batch, at: Self.now())
        nextOffsets.merge(report.nextOffsets) { _, stored in stored }
        try hand(report)
        do {
            try consumer?.commit(report.nextOffsets)
        } catch {
            // The store holds the offsets; the group's copy is for lag and hand-over only.
            logger.warning("Committing offsets to the group failed", metadata: ["error": "\(error)"])
        }
        metrics.batchApplied(report, messages: batch, seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
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

    private func fireGraceDeadlines() throws {
        let now = Self.now()
        guard let next = try store.nextGraceDeadline(), next <= now else { return }
        let report = try store.fireDueGraceDeadlines(at: now)
        if report.graceDeadlinesFired > 0 {
            logger.info("Grace periods ended; customers blocked", metadata: ["count": "\(report.graceDeadlinesFired)"])
        }
        try hand(report)
    }

    /// Hands a batch's output to the publisher; its account states wait in `accountStates` (the
    /// batch's rows keep the mark below them until they are delivered).
    private func hand(_ report: BatchReport) throws {
        try publisher.publish(report.outbox)
        guard !report.changedAccounts.isEmpty, let first = report.outbox.first?.seq else { return }
        accountStates.add(report.changedAccounts, fromSeq: first, at: MonotonicClock.now())
        publisher.holdMark(from: first)
        try publishAccountStates()
    }

    /// Sends the account states that have waited the interval (all of them with `everything`),
    /// at most every tenth of the interval; the rows of those still waiting stay held.
    private func publishAccountStates(everything: Bool = false) throws {
        let now = MonotonicClock.now()
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
        let pruned = try store.pruneIdempotencyKeys(recordedBefore: Self.now().adding(seconds: -Int64(days) * 86_400))
        if pruned > 0 {
            logger.info("Forgot idempotency keys past the retention", metadata: ["count": "\(pruned)", "days": "\(days)"])
        }
    }

    /// Hands the publisher the next page of output left from the last run, as its window allows.
    private func takeBacklog() throws {
        guard let after = backlogAfter else { return }
        let room = configuration.maxInFlight - publisher.undeliveredCount
        guard room > 0 else { return }
        let records = try store.pendingOutbox(after: after, limit: min(room, 10_000))
        guard let last = records.last else {
            backlogAfter = nil
            return
        }
        if after == 0 {
            let depth = try store.outboxDepth()
            logger.info("Publishing output messages left from the last run", metadata: ["outbox": "\(depth)"])
        }
        try publisher.publish(records)
        backlogAfter = last.seq
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

    static func now() -> Timestamp { WallClock.now() }

    // MARK: KafkaRebalanceListener

    func partitionsAssigned(_ partitions: [TopicPartition])
        -> (start: [TopicPartition: Int64], paused: Set<TopicPartition>)
    {
        status.update { $0.joinedGroup = true }
        // Every partition starts paused from the beginning; `takeOwnership` reads the stored
        // positions, seeks there and resumes (messages before a position are skipped anyway).
        var start: [TopicPartition: Int64] = [:]
        for partition in partitions { start[partition] = KafkaOffset.beginning }
        paused = Set(partitions)
        unverified = []
        pauseReasons = [:]
        let positions = takeOwnership(of: partitions, resuming: false)
        if let positions {
            for (partition, next) in positions { start[partition] = next }
        }
        logger.info("Partitions assigned", metadata: ["partitions": "\(partitions.map(\.description).sorted())"])
        publishPauseReasons(assigned: partitions)
        return (start, paused)
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
            if unowned == nil {
                logger.error(
                    "Cannot read the partitions' positions from the store; they stay paused",
                    metadata: ["error": "\(error)"])
            }
            unowned = partitions
            for partition in partitions {
                paused.insert(partition)
                pauseReasons[partition] = "cannot read the partition's position from the store (\(error)); retrying"
            }
            publishPauseReasons(assigned: nil)
            return nil
        }
        unowned = nil
        if store.isShared { needsOutboxRescan = true }
        var resumed: [TopicPartition] = []
        for partition in partitions {
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
        nextVerification = 0
        if resuming { consumer?.resume(resumed) }
        publishPauseReasons(assigned: nil)
        return positions
    }

    /// Reads the group's committed offset of partitions new to this store, and resumes those the
    /// group has not consumed either. Fails closed: a partition whose offset cannot be read stays
    /// paused, and the check is repeated every second.
    private func verifyNewPartitions() {
        guard !unverified.isEmpty, let consumer, MonotonicClock.now() >= nextVerification else { return }
        let partitions = unverified.sorted { $0.description < $1.description }
        do {
            let committed = try consumer.committedOffsets(partitions, timeoutMilliseconds: 2_000)
            var resumed: [TopicPartition] = []
            for partition in partitions {
                unverified.remove(partition)
                if let groupOffset = committed[partition], groupOffset > 0 {
                    // Another store applied this partition: applying from here would give wrong balances.
                    pauseReasons[partition] =
                        "group offset is \(groupOffset) but this store has no state for the partition; "
                        + "restore the store that applied it (or reset the group) before resuming"
                    logger.error(
                        "Partition paused",
                        metadata: [
                            "partition": "\(partition)",
                            "reason": "\(pauseReasons[partition] ?? "")",
                        ])
                } else {
                    paused.remove(partition)
                    pauseReasons[partition] = nil
                    resumed.append(partition)
                }
            }
            consumer.resume(resumed)
        } catch {
            nextVerification = MonotonicClock.now() + 1_000_000_000
            for partition in partitions {
                pauseReasons[partition] = "cannot read the group's committed offset (\(error)); paused, retrying every second"
            }
            logger.warning(
                "Group offsets unreadable; new partitions stay paused",
                metadata: ["partitions": "\(partitions.map(\.description))", "error": "\(error)"])
        }
        publishPauseReasons(assigned: nil)
    }

    private func publishPauseReasons(assigned: [TopicPartition]?) {
        let reasons = Dictionary(uniqueKeysWithValues: pauseReasons.map { ($0.key.description, $0.value) })
        status.update { snapshot in
            if let assigned { snapshot.assignedPartitions = assigned.map(\.description).sorted() }
            snapshot.pausedPartitions = reasons
        }
    }

    func partitionsRevoked(_ partitions: [TopicPartition]) {
        heldBatch = nil  // redelivered from the store's offsets by whoever gets the partitions
        paused = []
        unverified = []
        unowned = nil
        pauseReasons = [:]
        status.update {
            $0.assignedPartitions = []
            $0.pausedPartitions = [:]
        }
        logger.info("Partitions revoked", metadata: ["partitions": "\(partitions.map(\.description).sorted())"])
    }
}
