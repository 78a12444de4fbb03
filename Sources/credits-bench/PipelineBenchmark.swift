import CreditsKafka
import CreditsService
import Foundation
import Logging

/// The whole service on the embedded broker: usage events produced to `credits.usage` (by a
/// producer in this process, sharing the two cores), consumed, applied (entries committed, their
/// balance-changed events handed to the producer), and finally acknowledged by the broker.
/// Prints the produce rate, the applied rate, and when the last output was acknowledged.
func pipelineBenchmark(events eventCount: Int, customers customerCount: Int) async throws {
    var logger = Logger(label: "bench")
    logger.logLevel = .warning
    let broker = try EmbeddedBroker()
    var configuration = ServiceConfiguration()
    configuration.brokers = broker.bootstrapServers
    configuration.storePath = temporaryPath("pipeline.sqlite")
    configuration.httpPort = 0
    configuration.httpHost = "127.0.0.1"
    for topic in [configuration.topics.usage, configuration.topics.commands] + configuration.topics.outputs {
        try broker.createTopic(topic, partitions: configuration.partitions)
    }
    let server = CreditsServer(configuration: configuration, bootstrapServers: broker.bootstrapServers, logger: logger)
    let running = Task { try await server.run() }
    while !server.status.snapshot.isReady { try await Task.sleep(for: .milliseconds(50)) }

    let producer = try KafkaProducer(
        settings: configuration.kafkaSettings(bootstrapServers: broker.bootstrapServers),
        logger: logger)
    var reports: [KafkaDelivery] = []
    for index in 0..<customerCount {
        let customer = customerID(index)
        try producer.send(
            topic: configuration.topics.commands, key: customer,
            value:
                #"{"command_id":"enable-\#(index)","customer_id":"\#(customer)","issued_at":"2026-11-24T10:00:00Z","actor":"bench","type":"enable_credits","settings":{"price_per_minute":"2"}}"#,
            token: Int64(index), reports: &reports)
    }
    _ = producer.flush(timeoutMilliseconds: 60_000)
    while appliedTotal(server) < Double(customerCount) { try await Task.sleep(for: .milliseconds(50)) }

    print(
        "credits-bench pipeline: \(eventCount) usage events, \(customerCount) customers, \(configuration.partitions) partitions, "
            + "embedded broker")
    let start = DispatchTime.now().uptimeNanoseconds
    for index in 0..<eventCount {
        let customer = customerID(index % customerCount)
        try producer.send(
            topic: configuration.topics.usage, key: customer,
            value:
                #"{"event_id":"call-\#(index)/1","customer_id":"\#(customer)","occurred_at":"2026-11-24T10:15:00Z","call_id":"call-\#(index)","call_seconds":\#(index % 600),"ai_costs_usd":{"llm":"0.0123","stt":"0.004"},"tool_calls":\#(index % 4)}"#,
            token: Int64(index), reports: &reports)
        if index % 10_000 == 0 { reports += producer.pollDeliveries(timeoutMilliseconds: 0) }
    }
    _ = producer.flush(timeoutMilliseconds: 120_000)
    let produced = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    while entriesApplied(server) < Double(eventCount) { try await Task.sleep(for: .milliseconds(20)) }
    let applied = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    print(
        "produced to credits.usage (acknowledged)   \(String(format: "%9.0f", Double(eventCount) / produced)) events/s  (\(String(format: "%.2f", produced)) s)"
    )
    print(
        "consumed and applied (entries committed)     \(String(format: "%9.0f", Double(eventCount) / applied)) events/s  (\(String(format: "%.2f", applied)) s)"
    )
    // The outbox depth gauge is refreshed once a second: this time is that coarse.
    while value(server, "credits_outbox_depth") > 0 || value(server, "credits_outbox_in_flight") > 0 {
        try await Task.sleep(for: .milliseconds(20))
    }
    let acknowledged = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    print("every output acknowledged by the broker within \(String(format: "%.1f", acknowledged)) s (1 s resolution)")
    let batches = value(server, "credits_apply_batch_size_count")
    print(
        "input batches: \(Int(batches)), \(String(format: "%.0f", value(server, "credits_apply_batch_size_sum") / max(batches, 1))) messages on average"
    )
    await server.shutdown()
    try await running.value
    withExtendedLifetime(broker) {}
}

private func value(_ server: CreditsServer, _ series: String) -> Double {
    server.metrics.exposition().split(separator: "\n").first { $0.hasPrefix(series + " ") }
        .flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
}

private func entriesApplied(_ server: CreditsServer) -> Double { value(server, "credits_entries_total") }

private func appliedTotal(_ server: CreditsServer) -> Double {
    value(server, #"credits_messages_applied_total{topic="credits.commands"}"#)
}
