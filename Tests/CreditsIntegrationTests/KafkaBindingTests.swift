import CreditsCore
import CreditsKafka
import Foundation
import Logging
import Testing

final class RecordingListener: KafkaRebalanceListener {
    var assigned: [TopicPartition] = []
    var start: [TopicPartition: Int64] = [:]
    /// Every callback in order: "assigned n" or "revoked n" with the number of partitions.
    var events: [String] = []

    func partitionsAssigned(_ partitions: [TopicPartition])
        -> (start: [TopicPartition: Int64], paused: Set<TopicPartition>)
    {
        assigned = partitions
        events.append("assigned \(partitions.count)")
        return (start, [])
    }

    func partitionsRevoked(_ partitions: [TopicPartition]) {
        assigned = []
        events.append("revoked \(partitions.count)")
    }
}

@Suite("librdkafka binding against the embedded broker")
struct KafkaBindingTests {
    /// Settings for group members of `broker` that notice a departed member within seconds.
    private func groupSettings(_ broker: EmbeddedBroker) -> KafkaClientSettings {
        KafkaClientSettings(
            bootstrapServers: broker.bootstrapServers,
            properties: ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"]
                .merging(EmbeddedBroker.clientProperties) { _, embedded in embedded })
    }

    @Test("produce with delivery reports, consume in a group with range assignment, commit and resume")
    func roundTrip() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("t.in", partitions: 2)
        let settings = groupSettings(broker)
        let logger = Logger(label: "test")
        let producer = try KafkaProducer(settings: settings, logger: logger)
        var reports: [KafkaDelivery] = []
        let producedFrom = Int64(Date().timeIntervalSince1970 * 1000)
        for index in 0..<20 {
            try producer.send(
                topic: "t.in", key: "k\(index % 5)", value: "v\(index)", token: Int64(index + 1),
                reports: &reports)
        }
        reports += producer.flush(timeoutMilliseconds: 10_000)
        let producedUntil = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(Set(reports.map(\.token)) == Set(1...20))
        #expect(reports.allSatisfy { $0.error == nil })

        let listener = RecordingListener()
        var received: [KafkaMessage] = []
        do {
            let consumer = try KafkaConsumer(
                settings: settings, groupID: "g1", topics: ["t.in"], listener: listener,
                logger: logger)
            let deadline = Date().addingTimeInterval(20)
            while received.count < 20 && Date() < deadline {
                received += consumer.poll(maxMessages: 100, timeoutMilliseconds: 200)
            }
            // Each message carries its producer's time of produce (CreateTime, wall clock in ms).
            #expect(
                received.allSatisfy {
                    ($0.timestampMilliseconds ?? 0) >= producedFrom && ($0.timestampMilliseconds ?? 0) <= producedUntil
                })
            #expect(
                Set(listener.assigned) == [
                    TopicPartition(topic: "t.in", partition: 0),
                    TopicPartition(topic: "t.in", partition: 1),
                ])
            var next: [TopicPartition: Int64] = [:]
            for message in received where message.value != Array("v19".utf8) {
                let partition = TopicPartition(topic: message.topic, partition: message.partition)
                next[partition] = max(next[partition] ?? 0, message.offset + 1)
            }
            try consumer.commit(next)
            _ = consumer.poll(maxMessages: 1, timeoutMilliseconds: 500)
            consumer.close(timeoutMilliseconds: 10_000)
        }
        #expect(received.count == 20)
        #expect(Set(received.map { String(decoding: $0.value, as: UTF8.self) }) == Set((0..<20).map { "v\($0)" }))
        let byKey = Dictionary(grouping: received) { $0.key.map { String(decoding: $0, as: UTF8.self) } ?? "" }
        for (_, messages) in byKey { #expect(Set(messages.map(\.partition)).count == 1, "one key, one partition") }

        // A new member reads the committed offsets and, told nothing else, starts there.
        let second = RecordingListener()
        let consumer = try KafkaConsumer(
            settings: settings, groupID: "g1", topics: ["t.in"], listener: second,
            logger: logger)
        var again: [KafkaMessage] = []
        let deadline = Date().addingTimeInterval(30)
        while again.isEmpty && Date() < deadline { again += consumer.poll(maxMessages: 100, timeoutMilliseconds: 200) }
        #expect(try consumer.committedOffsets(second.assigned, timeoutMilliseconds: 5_000).values.reduce(0, +) == 19)
        #expect(again.map { String(decoding: $0.value, as: UTF8.self) } == ["v19"])
        consumer.close(timeoutMilliseconds: 10_000)
    }

    @Test("rejoin: the member's assignment is revoked and the group assigns it anew (what a fenced instance asks for)")
    func rejoinReassigns() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("t.re", partitions: 2)
        let settings = groupSettings(broker)
        let listener = RecordingListener()
        let consumer = try KafkaConsumer(
            settings: settings, groupID: "g-rejoin", topics: ["t.re"], listener: listener, logger: Logger(label: "test"))
        defer { consumer.close(timeoutMilliseconds: 10_000) }
        var deadline = Date().addingTimeInterval(20)
        while listener.events.isEmpty && Date() < deadline { _ = consumer.poll(maxMessages: 10, timeoutMilliseconds: 100) }
        #expect(listener.events == ["assigned 2"])
        try consumer.rejoin()
        deadline = Date().addingTimeInterval(20)
        while listener.events.count < 3 && Date() < deadline { _ = consumer.poll(maxMessages: 10, timeoutMilliseconds: 100) }
        #expect(listener.events == ["assigned 2", "revoked 2", "assigned 2"])
        #expect(consumer.assignment.count == 2)
    }

    @Test("a broker brought back up while another socket holds its port throws, instead of aborting the process")
    func setUpWaitsForItsPort() throws {
        let broker = try EmbeddedBroker()
        let port = try #require(broker.bootstrapServers.split(separator: ":").last.flatMap { UInt16($0) })
        broker.setDown()
        // Someone else listens on the port meanwhile (librdkafka's mock would abort on its own bind).
        let squatter = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var reuse: Int32 = 1
        setsockopt(squatter, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var bound: Int32 = -1
        for _ in 0..<100 where bound != 0 {
            bound = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(squatter, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if bound != 0 { Thread.sleep(forTimeInterval: 0.05) }  // the mock closes its listener asynchronously
        }
        try #require(bound == 0 && listen(squatter, 1) == 0)
        #expect(throws: KafkaError.self) { try broker.setUp(waitSeconds: 0.3) }
        close(squatter)
        try broker.setUp(waitSeconds: 5)
        let producer = try KafkaProducer(
            settings: KafkaClientSettings(bootstrapServers: broker.bootstrapServers, properties: EmbeddedBroker.clientProperties),
            logger: Logger(label: "test"))
        var reports: [KafkaDelivery] = []
        try producer.send(topic: "t.up", key: "k", value: "v", token: 1, reports: &reports)
        reports += producer.flush(timeoutMilliseconds: 10_000)
        #expect(reports.map(\.token) == [1] && reports.allSatisfy { $0.error == nil })
    }
}
