import CreditsKafka
import CreditsService
import Foundation
import Logging

/// Which input `loadInput` produces.
enum LoadPart: String {
    case commands, usage, both
}

/// What every usage event of `loadInput` carries (the benchmarks print it with their figures).
let usageEventMix = "each with call_seconds, ai_costs_usd (llm, stt) and tool_calls"

/// Produces the benchmark's input to a running broker: an `enable_credits` command per customer,
/// and `events` usage events spread over them (the same messages as the pipeline benchmark).
/// For benchmarks that run the broker and the service as processes of their own.
func loadInput(brokers: String, events eventCount: Int, customers customerCount: Int, part: LoadPart) throws {
    var logger = Logger(label: "bench-load")
    logger.logLevel = .warning
    let configuration = ServiceConfiguration()
    var settings = configuration.kafkaSettings(bootstrapServers: brokers)
    settings.properties["linger.ms"] = "20"
    let producer = try KafkaProducer(settings: settings, logger: logger)
    var reports: [KafkaDelivery] = []
    for index in 0..<(part == .usage ? 0 : customerCount) {
        let customer = customerID(index)
        try producer.send(
            topic: configuration.topics.commands, key: customer,
            value:
                #"{"command_id":"enable-\#(index)","customer_id":"\#(customer)","issued_at":"2026-11-24T10:00:00Z","actor":"bench","type":"enable_credits","settings":{"price_per_minute":"2"}}"#,
            token: Int64(index), reports: &reports)
    }
    for index in 0..<(part == .commands ? 0 : eventCount) {
        let customer = customerID(index % customerCount)
        try producer.send(
            topic: configuration.topics.usage, key: customer,
            value:
                #"{"event_id":"call-\#(index)/1","customer_id":"\#(customer)","occurred_at":"2026-11-24T10:15:00Z","call_id":"call-\#(index)","call_seconds":\#(index % 600),"ai_costs_usd":{"llm":"0.0123","stt":"0.004"},"tool_calls":\#(index % 4)}"#,
            token: Int64(index), reports: &reports)
        if index % 10_000 == 0 { reports += producer.pollDeliveries(timeoutMilliseconds: 0) }
    }
    reports += producer.flush(timeoutMilliseconds: 120_000)
    guard producer.inFlight == 0 else { throw BenchError("the broker did not take every message") }
    if let failed = reports.first(where: { $0.error != nil }) { throw BenchError("produce failed: \(failed.error ?? "")") }
    print("loaded \(part == .usage ? 0 : customerCount) enable commands and \(part == .commands ? 0 : eventCount) usage events")
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
