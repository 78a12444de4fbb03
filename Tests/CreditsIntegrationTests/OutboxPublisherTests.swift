import CreditsCore
import CreditsKafka
import Foundation
import Logging
import Testing

@testable import CreditsService
@testable import CreditsStore

/// The publisher against the embedded broker: window, order under failures, drain deadline.
@Suite("Outbox publisher: a bounded, ordered window", .serialized)
struct OutboxPublisherTests {
    @Test("the outbox producer waits without a message timeout (no gap in a partition's series) unless one is configured")
    func noMessageTimeoutByDefault() {
        let plain = KafkaClientSettings(bootstrapServers: "127.0.0.1:1", properties: [:])
        #expect(LedgerPipeline.outboxProducerSettings(plain).properties["message.timeout.ms"] == "0")
        let configured = KafkaClientSettings(bootstrapServers: "127.0.0.1:1", properties: ["delivery.timeout.ms": "1500"])
        #expect(LedgerPipeline.outboxProducerSettings(configured).properties["message.timeout.ms"] == nil)
        #expect(LedgerPipeline.outboxProducerSettings(configured).properties["delivery.timeout.ms"] == "1500")
    }

    let broker: EmbeddedBroker
    let settings: KafkaClientSettings
    let logger = Logger(label: "publisher-test")

    init() throws {
        broker = try EmbeddedBroker()
        for topic in ServiceConfiguration.Topics().outputs { try broker.createTopic(topic, partitions: 1) }
        settings = KafkaClientSettings(
            bootstrapServers: broker.bootstrapServers,
            properties: ["message.timeout.ms": "1000", "retry.backoff.ms": "50"])
    }

    func publisher(window: Int, properties: [String: String] = [:]) throws -> OutboxPublisher {
        var settings = settings
        settings.properties.merge(properties) { _, given in given }
        return OutboxPublisher(
            output: try KafkaProducer(settings: settings, logger: logger),
            topics: ServiceConfiguration.Topics(), window: window, logger: logger)
    }

    func records(_ seqs: ClosedRange<Int64>, key: String = "cus_1") -> [OutboxRecord] {
        seqs.map { OutboxRecord(seq: $0, event: .encoded(OutboundMessage(topic: .blocks, key: key, value: "\($0)"))) }
    }

    /// The values on credits.blocks, in log order, once `count` distinct ones arrived.
    func published(distinct count: Int) async throws -> [Int64] {
        let tail = try OutputTail(settings: settings, topics: ["credits.blocks"], fromStart: true, logger: logger)
        defer { tail.close() }
        var values: [Int64] = []
        let deadline = Date().addingTimeInterval(30)
        while Set(values).count < count && Date() < deadline {
            values += tail.poll(timeoutMilliseconds: 0).compactMap { Int64(String(decoding: $0.value, as: UTF8.self)) }
            try await Task.sleep(for: .milliseconds(10))
        }
        return values
    }

    /// Serves the publisher for `seconds`, or until `done`, without holding a thread.
    func serve(
        _ publisher: OutboxPublisher, seconds: TimeInterval,
        until done: (OutboxPublisher) -> Bool = { _ in false }
    ) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && !done(publisher) {
            try publisher.serveDeliveries(timeoutMilliseconds: 0)
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Serves delivery reports until everything handed over is delivered (up to 10 s).
    func serveUntilDelivered(_ publisher: OutboxPublisher) async throws {
        try await serve(publisher, seconds: 10) { $0.undeliveredCount == 0 }
    }

    /// Keeping the first copy of each value (a consumer that drops repeats), are they in order?
    func firstCopiesInOrder(_ values: [Int64]) -> Bool {
        var seen = Set<Int64>()
        let kept = values.filter { seen.insert($0).inserted }
        return kept == kept.sorted()
    }

    @Test("never more messages with the producer than the window; everything delivered in order")
    func window() async throws {
        let publisher = try publisher(window: 25)
        try publisher.publish(records(1...300))
        #expect(publisher.inFlightCount == 25)
        #expect(publisher.undeliveredCount == 300)
        var most = 0
        try await serve(publisher, seconds: 30) { publisher in
            most = max(most, publisher.inFlightCount)
            return publisher.undeliveredCount == 0
        }
        #expect(most <= 25)
        #expect(publisher.deliveredThrough == 300)
        #expect(try await published(distinct: 300) == Array(1...300))
    }

    @Test("records with no row of their own hold the delivered mark below their hand-over's rows until all of it is delivered")
    func markWaitsForRecordsNotStored() async throws {
        let publisher = try publisher(window: 3)
        try publisher.publish(records(1...2))
        try await serveUntilDelivered(publisher)
        #expect(publisher.deliveredThrough == 2)
        // Rows 3-5 and two states rebuilt from them (seq 5, not stored): with a window of 3 the
        // states are sent only once rows have been delivered.
        let states = [105, 106].map {
            OutboxRecord(seq: 5, event: .encoded(OutboundMessage(topic: .blocks, key: "cus_1", value: "\($0)")), isStored: false)
        }
        try publisher.publish(records(3...5) + states)
        var seen: [(undelivered: Int, mark: Int64)] = []
        try await serve(publisher, seconds: 30) { publisher in
            seen.append((publisher.undeliveredCount, publisher.deliveredThrough))
            return publisher.undeliveredCount == 0
        }
        #expect(seen.contains { $0.undelivered > 0 && $0.undelivered < 5 }, "some of the hand-over delivered, not all")
        #expect(seen.filter { $0.undelivered > 0 }.allSatisfy { $0.mark == 2 }, "\(seen)")
        #expect(publisher.deliveredThrough == 5)
        #expect(try await published(distinct: 7) == [1, 2, 3, 4, 5, 105, 106])
    }

    @Test("held rows keep the delivered mark below them until the records handed over later for them are delivered")
    func heldRows() async throws {
        let publisher = try publisher(window: 1_000)
        try publisher.publish(records(1...3))
        try await serveUntilDelivered(publisher)
        #expect(publisher.deliveredThrough == 3)
        // Rows 4-6 wait for a state rebuilt from them; a later batch (7-8) waits with them.
        try publisher.publish(records(4...6))
        publisher.holdMark(from: 4)
        try publisher.publish(records(7...8))
        try await serveUntilDelivered(publisher)
        #expect(publisher.undeliveredCount == 0)
        #expect(publisher.deliveredThrough == 3, "rows 4-8 stay while the state is not out")
        // The state from rows 4-6 goes; one from rows 7-8 still waits.
        publisher.holdMark(from: 7)
        try publisher.publishHeld([.encoded(OutboundMessage(topic: .blocks, key: "cus_1", value: "106"))], stillHeldFrom: 7)
        try await serveUntilDelivered(publisher)
        #expect(publisher.deliveredThrough == 6)
        try publisher.publishHeld([.encoded(OutboundMessage(topic: .blocks, key: "cus_2", value: "108"))], stillHeldFrom: nil)
        try await serveUntilDelivered(publisher)
        #expect(publisher.deliveredThrough == 8)
        #expect(try await published(distinct: 10) == [1, 2, 3, 4, 5, 6, 7, 8, 106, 108])
    }

    @Test("a failed delivery holds newer messages; the failed one and what followed go again, in order")
    func failureKeepsOrder() async throws {
        let publisher = try publisher(window: 1_000)
        try publisher.publish(records(1...50))
        try await serveUntilDelivered(publisher)
        #expect(publisher.deliveredThrough == 50)
        broker.setDown()
        // The mock takes the broker down asynchronously: let the producer see it first, so that
        // 51-80 wait in its queue (rather than in a request the broker may still answer).
        try await Task.sleep(for: .seconds(1))
        try publisher.publish(records(51...80))
        // Everything queued while the broker is down times out (message.timeout.ms 1 s).
        try await serve(publisher, seconds: 10) { $0.produceErrors > 0 }
        try #require(publisher.produceErrors > 0, "the outage made deliveries fail")
        try broker.setUp()
        try publisher.publish(records(81...100))
        try await serve(publisher, seconds: 20) { $0.undeliveredCount == 0 }
        #expect(publisher.undeliveredCount == 0)
        #expect(publisher.deliveredThrough == 100)
        let values = try await published(distinct: 100)
        #expect(Set(values) == Set(1...100))
        #expect(firstCopiesInOrder(values), "\(values)")
    }

    @Test("drain gives up at its deadline on the monotonic clock, keeping what is undelivered")
    func drainDeadline() throws {
        let publisher = try publisher(window: 100)
        broker.setDown()
        defer { try? broker.setUp() }
        try publisher.publish(records(1...10))
        let started = Date()
        try publisher.drain(until: MonotonicClock.now() + 1_500_000_000)
        let waited = Date().timeIntervalSince(started)
        #expect(waited >= 1.4 && waited < 4, "\(waited)")
        #expect(publisher.undeliveredCount == 10)
        #expect(publisher.oldestUndeliveredAge >= 1.4)
    }

    @Test("a message the producer refuses as too large goes as a bounded stand-in in its place; the rest follow in order")
    func tooLargeForTheProducer() async throws {
        let publisher = try publisher(window: 1_000, properties: ["message.max.bytes": "100000"])
        let huge = OutboxRecord(
            seq: 3, event: .encoded(OutboundMessage(topic: .blocks, key: "cus_1", value: String(repeating: "x", count: 200_000))))
        try publisher.publish(records(1...2) + [huge] + records(4...300))
        try await serveUntilDelivered(publisher)
        #expect(publisher.undeliveredCount == 0)
        #expect(publisher.deliveredThrough == 300)
        let tail = try OutputTail(settings: settings, topics: ["credits.blocks"], fromStart: true, logger: logger)
        defer { tail.close() }
        var values: [String] = []
        let deadline = Date().addingTimeInterval(30)
        while values.count < 300 && Date() < deadline {
            values += tail.poll(timeoutMilliseconds: 100).map { String(decoding: $0.value, as: UTF8.self) }
        }
        try #require(values.count == 300, "\(values.count) messages")
        #expect(values[0...1] == ["1", "2"])
        #expect(values[2].hasPrefix(#"{"output_too_large":true"#) && values[2].contains(#""value_bytes":200000"#))
        #expect(values[2].utf8.count < 100_000)
        #expect(Array(values[3...]) == (4...300).map(String.init))
    }
}
