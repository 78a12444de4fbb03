import CreditsCore
import CreditsKafka
import CreditsService
import CreditsStore
import CreditsTestSupport
import Foundation
import Logging
import Testing

/// A real service on the embedded broker, with a producer for the input topics and a tail of the
/// output topics, for end-to-end tests through real topics.
final class ServiceHarness {
    let broker: EmbeddedBroker
    let directory: URL
    var configuration: ServiceConfiguration
    private(set) var server: CreditsServer?
    private var runTask: Task<Void, Error>?
    private let producer: KafkaProducer
    private var tail: OutputTail?
    private var token: Int64 = 0
    /// Every output message seen, per topic, in arrival order.
    private(set) var outputs: [String: [[String: JSONValue]]] = [:]
    /// The same messages as they came, for the schema check at `stop()`.
    private(set) var rawOutputs: [(topic: String, json: String)] = []
    /// Messages the tail read per topic and partition (repeats included).
    private(set) var readCounts: [String: [Int32: Int]] = [:]
    let logger: Logger

    init(partitions: Int32 = 2, brokers: Int32 = 1, configure: (inout ServiceConfiguration) -> Void = { _ in }) throws {
        var logger = Logger(label: "integration")
        logger.logLevel = .warning
        self.logger = logger
        broker = try EmbeddedBroker(brokers: brokers)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("credits-it-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = ServiceConfiguration()
        configuration.brokers = broker.bootstrapServers
        configuration.groupID = "credits-it-\(UUID().uuidString.prefix(8))"
        configuration.partitions = partitions
        configuration.storePath = directory.appendingPathComponent("ledger.sqlite").path
        configuration.httpHost = "127.0.0.1"
        configuration.httpPort = 0
        configuration.pollTimeoutMilliseconds = 50
        configuration.batchMaxMessages = 500
        configuration.kafkaProperties = ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"]
            .merging(EmbeddedBroker.clientProperties) { _, embedded in embedded }
        configure(&configuration)
        self.configuration = configuration
        let topics = [configuration.topics.usage, configuration.topics.commands] + configuration.topics.outputs
        for topic in topics { try broker.createTopic(topic, partitions: partitions) }
        let settings = configuration.kafkaSettings(bootstrapServers: broker.bootstrapServers)
        // The harness's own input producer waits as long as it takes, whatever the service's timeouts.
        var inputSettings = settings
        inputSettings.properties["message.timeout.ms"] = "120000"
        inputSettings.properties["message.max.bytes"] = "4000000"  // room for oversized test inputs
        producer = try KafkaProducer(settings: inputSettings, logger: logger)
        tail = try OutputTail(settings: settings, topics: configuration.topics.outputs, fromStart: true, logger: logger)
    }

    deinit {
        tail?.close()
        try? FileManager.default.removeItem(at: directory)
    }

    var settings: KafkaClientSettings { configuration.kafkaSettings(bootstrapServers: broker.bootstrapServers) }

    /// The environment for a `serve` process of its own on this harness's broker, group and store
    /// (HTTP on a free port), with `extra` on top.
    /// `EmbeddedBroker.clientProperties` as `CREDITS_KAFKA_PROPERTIES` text, for the processes
    /// that talk to this (in-process) broker.
    static let embeddedClientProperties = EmbeddedBroker.clientProperties.map { "\($0.key)=\($0.value)" }
        .joined(separator: ",")

    func executableEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        [
            "CREDITS_KAFKA_BROKERS": broker.bootstrapServers, "CREDITS_KAFKA_GROUP_ID": configuration.groupID,
            "CREDITS_STORE_PATH": configuration.storePath, "CREDITS_HTTP_PORT": "0",
            "CREDITS_KAFKA_PROPERTIES": Self.embeddedClientProperties,
        ].merging(extra) { _, given in given }
    }

    /// Starts the service and waits until it is ready (partitions assigned, store open).
    func start(timeout: TimeInterval = 40, wallClockAheadSeconds: Int64 = 0) async throws {
        let server = CreditsServer(
            configuration: configuration, bootstrapServers: broker.bootstrapServers, logger: logger,
            wallClockAheadSeconds: wallClockAheadSeconds)
        self.server = server
        runTask = Task { try await server.run() }
        // Ready is the pipeline's word; the HTTP server reports its port on its own, a moment apart.
        try await waitUntil(timeout: timeout, "the service to become ready and listen") {
            server.status.snapshot.isReady && server.status.snapshot.httpPort != nil
        }
    }

    /// Stops the service gracefully and waits for it to finish; then holds every output message
    /// read so far to its topic's JSON Schema (docs/schemas).
    func stop() async throws {
        guard let server, let runTask else { return }
        await server.shutdown()
        try await runTask.value
        self.server = nil
        self.runTask = nil
        try await expectOutputsMatchSchemas()
    }

    /// Validates every output message read so far against its topic's schema; returns the
    /// validator's report.
    @discardableResult
    func expectOutputsMatchSchemas(sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let documents = rawOutputs.enumerated().compactMap { index, output -> (schema: String, label: String, json: String)? in
            guard let topic = OutputTopic.allCases.first(where: { configuration.topics.name(of: $0) == output.topic }) else {
                return nil
            }
            return (SchemaValidator.schema(of: topic), "\(output.topic) message \(index)", output.json)
        }
        guard !documents.isEmpty else { return "" }
        let result = try await SchemaValidator.validate(documents)
        #expect(
            result.status == 0, "output messages that do not match docs/schemas:\n\(result.report)",
            sourceLocation: sourceLocation)
        return result.report
    }

    var httpPort: Int { server?.status.snapshot.httpPort ?? 0 }

    // MARK: Input

    func sendUsage(_ json: String, key: String?) async throws { try await send(configuration.topics.usage, json, key: key) }

    func sendCommand(_ json: String, key: String?) async throws { try await send(configuration.topics.commands, json, key: key) }

    func send(_ topic: String, _ json: String, key: String?) async throws {
        token += 1
        var reports: [KafkaDelivery] = []
        try producer.send(topic: topic, key: key ?? "", value: json, token: token, reports: &reports)
        reports += await flush(seconds: 10)
        if let error = reports.first(where: { $0.error != nil })?.error { throw KafkaError(code: -1, message: error) }
    }

    /// Produces a command with headers (e.g. a signature) and waits for its acknowledgement.
    func sendCommand(_ json: String, key: String, headers: [(name: String, value: [UInt8])]) async throws {
        token += 1
        var reports: [KafkaDelivery] = []
        try producer.send(
            topic: configuration.topics.commands, key: key, value: json, headers: headers, token: token,
            reports: &reports)
        reports += await flush(seconds: 10)
        if let error = reports.first(where: { $0.error != nil })?.error { throw KafkaError(code: -1, message: error) }
    }

    /// Waits for the input producer's acknowledgements without holding a thread of the
    /// cooperative pool (the services under test need them).
    private func flush(seconds: TimeInterval) async -> [KafkaDelivery] {
        let deadline = Date().addingTimeInterval(seconds)
        var reports: [KafkaDelivery] = []
        while producer.inFlight > 0 && Date() < deadline {
            reports += producer.pollDeliveries(timeoutMilliseconds: 0)
            if producer.inFlight > 0 { try? await Task.sleep(for: .milliseconds(10)) }
        }
        return reports
    }

    /// Produces many messages to `topic`, then waits for all their acknowledgements.
    func sendAll(_ topic: String, _ messages: [(json: String, key: String)]) async throws {
        var reports: [KafkaDelivery] = []
        for message in messages {
            token += 1
            try producer.send(topic: topic, key: message.key, value: message.json, token: token, reports: &reports)
        }
        reports += await flush(seconds: 60)
        if let error = reports.first(where: { $0.error != nil })?.error { throw KafkaError(code: -1, message: error) }
    }

    /// Checks that each customer's balance-changed events come in entry order as a consumer that
    /// drops repeats by `event_id` sees them (the first copy of each); returns the problems found.
    func outOfOrderEntries() -> [String] {
        let events = outputs[configuration.topics.balanceChanged] ?? []
        var seen = Set<String>()
        var problems: [String] = []
        var previous: [String: Int64] = [:]
        for event in events {
            guard let id = event["event_id"]?.text, seen.insert(id).inserted,
                let customer = event["customer_id"]?.text, let entry = event["entry_id"]?.text.flatMap(Int64.init)
            else { continue }
            if let before = previous[customer], before >= entry {
                problems.append("\(customer): entry \(entry) after entry \(before)")
            }
            previous[customer] = entry
        }
        return problems
    }

    /// A usage event's JSON.
    func usage(_ id: String, _ customer: String, _ fields: String) -> String {
        #"{"event_id":"\#(id)","customer_id":"\#(customer)","occurred_at":"2026-11-24T10:15:00Z",\#(fields)}"#
    }

    /// An admin command's JSON.
    func command(_ id: String, _ customer: String, _ type: String, _ fields: String = "") -> String {
        #"{"command_id":"\#(id)","customer_id":"\#(customer)","issued_at":"2026-11-24T10:15:00Z","actor":"it","type":"\#(type)""#
            + (fields.isEmpty ? "" : "," + fields) + "}"
    }

    // MARK: Output

    /// Reads outputs until `topic` has `count` messages matching `predicate`, or fails after `timeout`.
    @discardableResult
    func waitFor(
        _ topic: String, count: Int = 1, timeout: TimeInterval = 30,
        where predicate: ([String: JSONValue]) -> Bool = { _ in true }
    ) async throws -> [[String: JSONValue]] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let matches = (outputs[topic] ?? []).filter(predicate)
            if matches.count >= count { return matches }
            guard Date() < deadline else {
                throw HarnessError(
                    "timed out waiting for \(count) message(s) on \(topic); have \(matches.count): "
                        + "\((outputs[topic] ?? []).suffix(5))")
            }
            await drainOutputs(milliseconds: 100)
        }
    }

    /// Reads outputs until `topic` has `count` distinct `event_id`s (at-least-once delivery may
    /// repeat some), or until `timeout`; returns the distinct ids seen.
    @discardableResult
    func waitForDistinct(_ topic: String, count: Int, timeout: TimeInterval) async throws -> Set<String> {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let ids = Set((outputs[topic] ?? []).compactMap { $0["event_id"]?.text })
            if ids.count >= count || Date() >= deadline { return ids }
            await drainOutputs(milliseconds: 100)
        }
    }

    /// Collects whatever output arrives within `milliseconds`, polling without blocking a thread.
    func drainOutputs(milliseconds: Int) async {
        let deadline = Date().addingTimeInterval(Double(milliseconds) / 1000)
        repeat {
            let messages = tail?.poll(timeoutMilliseconds: 0) ?? []
            for message in messages {
                rawOutputs.append((message.topic, String(decoding: message.value, as: UTF8.self)))
                readCounts[message.topic, default: [:]][message.partition, default: 0] += 1
                if case .object(let fields) = try? JSONParser.parse(message.value) {
                    outputs[message.topic, default: []].append(fields)
                }
            }
            if messages.isEmpty { try? await Task.sleep(for: .milliseconds(10)) }
        } while Date() < deadline
    }

    /// Each partition's end offset of `topic` as the broker reports it (messages in its log),
    /// read by a consumer of its own: to tell a message the broker never appended from one the
    /// tail did not read.
    func endOffsets(_ topic: String) throws -> [Int32: Int64?] {
        let consumer = try KafkaConsumer(
            settings: configuration.kafkaSettings(bootstrapServers: broker.bootstrapServers), logger: Logger(label: "end-offsets")
        )
        defer { consumer.close(timeoutMilliseconds: 2_000) }
        var ends: [Int32: Int64?] = [:]
        for index in 0..<(try consumer.partitionCount(of: topic)) {
            ends[index] = consumer.queryEndOffset(of: TopicPartition(topic: topic, partition: index))
        }
        return ends
    }

    func messages(_ topic: String, customer: String) -> [[String: JSONValue]] {
        (outputs[topic] ?? []).filter { $0["customer_id"]?.text == customer }
    }

    func reader() throws -> LedgerReader { try LedgerReader(path: configuration.storePath) }

    /// Waits until `total` usage entries are applied over `customers`, then checks the store:
    /// every chain verifies, and each balance is minus the charges of the events sent to it
    /// (event `index` went to `customers[index % count]` and cost `charge(index)` micro-credits).
    func expectExactBalances(
        _ customers: [String], total: Int, timeout: TimeInterval,
        charge: (Int) -> Int64
    ) async throws {
        try await waitUntil(timeout: timeout, "all \(total) usage events to be applied") {
            try customers.reduce(0) { $0 + Int(try reader().account($1)?.lastEntryID ?? 0) } == total
        }
        let store = try reader()
        #expect(try store.verify().problems == [])
        for (position, customer) in customers.enumerated() {
            let expected = stride(from: position, to: total, by: customers.count).reduce(Int64(0)) { $0 + charge($1) }
            #expect(try store.account(customer)?.balance.micros == -expected, "\(customer)")
        }
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func waitUntil(timeout: TimeInterval, _ what: String, _ condition: () throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while try !condition() {
        guard Date() < deadline else { throw HarnessError("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(50))
    }
}
