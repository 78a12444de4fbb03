import CreditsCore
import CreditsKafka
import CreditsService
import CreditsStore
import Foundation
import Logging

/// `credits-bench calls [customers] [partitions]`: decision latency as the call platform sees
/// it. `credits-ledger broker` and `credits-ledger serve` (release) as processes of their own;
/// this process offers `call_started` at 1 000 and then 5 000 per second for 10 s each (every
/// start paired with the `call_ended` of the customer's call started 2 s before, so the live
/// calls stay at about two seconds' worth) and times each start from its produce to its
/// decision arriving on `credits.call-grants`. Prints p50, p99 and max per rate.
func callLatencyBenchmark(customers customerCount: Int, partitions: Int, rates: [Int]) async throws {
    var logger = Logger(label: "bench-calls")
    logger.logLevel = .warning
    let bed = try await BenchmarkBed.start("calls", partitions: partitions)
    defer { bed.broker.stop() }
    let (settings, port) = (bed.settings, bed.port)
    let topics = ServiceConfiguration.Topics()
    print(
        "credits-bench calls: \(customerCount) customers, \(partitions) partitions, broker and service as separate "
            + "processes, \(ProcessInfo.processInfo.activeProcessorCount) cores")
    let serve = try Child(bed.binary, ["serve"], environment: bed.environment, log: bed.work + "/serve.log")
    defer { serve.stop() }
    try await waitFor(seconds: 120, "readiness") { await ready(port) }

    var producerSettings = settings
    producerSettings.properties["linger.ms"] = "0"
    let producer = try KafkaProducer(settings: producerSettings, logger: logger)
    var reports: [KafkaDelivery] = []
    for index in 0..<customerCount {
        let customer = customerID(index)
        for (id, type, fields) in [
            ("on", "enable_credits", #""settings":{"price_per_minute":"2"}"#),
            ("add", "add_credits", #""amount":"1000000","note":"bench""#),
        ] {
            try producer.send(
                topic: topics.commands, key: customer,
                value:
                    #"{"command_id":"\#(id)-\#(index)","customer_id":"\#(customer)","issued_at":"\#(WallClock.now())","actor":"bench","type":"\#(type)",\#(fields)}"#,
                token: 0, reports: &reports)
        }
    }
    reports += producer.flush(timeoutMilliseconds: 60_000)
    try await waitFor(seconds: 120, "the customers to be enabled and funded") {
        await metric(port, #"credits_messages_applied_total{topic="credits.commands"}"#) >= Double(2 * customerCount)
    }
    var tailSettings = settings
    tailSettings.properties["fetch.wait.max.ms"] = "1"
    let tail = try OutputTail(settings: tailSettings, topics: [topics.callGrants], fromStart: false, logger: logger)
    defer { tail.close() }
    try await Task.sleep(for: .seconds(2))  // the tail's assignment
    for rate in rates {
        let figures = try await offerStarts(
            rate: rate, seconds: 10, customers: customerCount, producer: producer, tail: tail, topic: topics.usage)
        print(
            "decision latency at \(rate) starts/s offered: p50 \(figures.p50) ms, p99 \(figures.p99) ms, max \(figures.max) ms "
                + "(\(figures.count) decisions, \(figures.granted) granted)")
    }
}

private func offerStarts(
    rate: Int, seconds duration: Int, customers: Int, producer: KafkaProducer, tail: OutputTail, topic: String
) async throws -> (p50: Int, p99: Int, max: Int, count: Int, granted: Int) {
    let run = UUID().uuidString.prefix(6)
    var sentAt: [String: UInt64] = [:]
    var latencies: [Double] = []
    var granted = 0
    var reports: [KafkaDelivery] = []
    let total = rate * duration
    let lag = 2 * rate  // a call ends 2 s after it started
    let start = DispatchTime.now().uptimeNanoseconds
    var sent = 0
    func call(_ index: Int) -> (customer: String, id: String) { (customerID(index % customers), "k\(run)-\(rate)-\(index)") }
    /// The `call_ended` of the call started `index`-th.
    func end(_ index: Int) throws {
        let (customer, id) = call(index)
        try producer.send(
            topic: topic, key: customer,
            value:
                #"{"event_id":"\#(id)/end","type":"call_ended","customer_id":"\#(customer)","call_id":"\#(id)","occurred_at":"2026-11-24T10:15:02Z"}"#,
            token: 0, reports: &reports)
    }
    while sent < total || latencies.count < total {
        let now = DispatchTime.now().uptimeNanoseconds
        let due = min(total, Int(Double(now - start) / 1e9 * Double(rate)))
        while sent < due {
            let (customer, id) = call(sent)
            try producer.send(
                topic: topic, key: customer,
                value:
                    #"{"event_id":"\#(id)/start","type":"call_started","customer_id":"\#(customer)","call_id":"\#(id)","occurred_at":"2026-11-24T10:15:00Z"}"#,
                token: 0, reports: &reports)
            sentAt["\(customer)/\(id)/1"] = DispatchTime.now().uptimeNanoseconds
            if sent >= lag { try end(sent - lag) }
            sent += 1
        }
        reports += producer.pollDeliveries(timeoutMilliseconds: 0)
        for message in tail.poll(timeoutMilliseconds: 1) {
            guard case .object(let fields)? = try? JSONParser.parse(message.value), case .string(let id)? = fields["event_id"],
                let sentTime = sentAt.removeValue(forKey: id)
            else { continue }
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - sentTime) / 1e6)
            if case .string("granted")? = fields["decision"] { granted += 1 }
        }
        if seconds(since: start) > Double(duration) + 60 { break }
        if sent == due { try await Task.sleep(for: .microseconds(200)) }
    }
    // The rest of the ends, so the next rate starts without these calls live.
    for index in max(0, total - lag)..<total { try end(index) }
    _ = producer.flush(timeoutMilliseconds: 10_000)
    try await Task.sleep(for: .seconds(3))
    let figures = Percentiles(latencies)
    return (figures.p50, figures.p99, figures.max, latencies.count, granted)
}
