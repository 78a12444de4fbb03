import CreditsCore
import CreditsKafka
import CreditsService
import CreditsStore
import Foundation
import Logging

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// What an operator sees: `credits-ledger broker` and `credits-ledger serve` as processes of
/// their own, the broker with `partitions` per topic. Prints, in one run:
///
/// 1. raw consume: the same usage messages read with the project's librdkafka binding (no JSON,
///    no store): the ceiling;
/// 2. end to end: from the service's readiness until every event is applied and its
///    balance-changed event is on the broker (read back from the topic);
/// 3. latency: usage produced at a fixed rate, each event's time from produce to its
///    balance-changed event arriving at a consumer (p50, p99, max);
/// 4. the service's peak resident memory (`VmHWM`).
///
/// With (2) it prints the CPU time the service and the broker used in that phase and the output
/// messages produced per topic: work for a fixed input, steadier on a noisy machine than a rate.
func endToEndBenchmark(events eventCount: Int, customers customerCount: Int, partitions: Int) async throws {
    var logger = Logger(label: "bench-e2e")
    logger.logLevel = .warning
    let bed = try await BenchmarkBed.start("e2e", partitions: partitions)
    defer { bed.broker.stop() }
    let (binary, work, address, settings, port, environment) =
        (bed.binary, bed.work, bed.address, bed.settings, bed.port, bed.environment)
    let topics = ServiceConfiguration.Topics()
    // CREDITS_BENCH_SERVICE=relay puts the control in the service's place (see `relay`).
    let relayed = ProcessInfo.processInfo.environment["CREDITS_BENCH_SERVICE"] == "relay"
    print(
        "credits-bench e2e: \(eventCount) usage events (\(usageEventMix)), \(customerCount) customers, \(partitions) "
            + "partitions, broker and service as separate processes, \(ProcessInfo.processInfo.activeProcessorCount) cores")
    if relayed {
        print("service: the relay (no ledger: each usage message becomes a balance-changed-sized message; nothing stored)")
    }

    // Customers enabled through commands, by the service itself.
    if !relayed {
        try loadInput(brokers: address, events: 0, customers: customerCount, part: .commands)
        let enabling = try Child(binary, ["serve"], environment: environment, log: work + "/serve.log")
        try await waitFor(seconds: 120, "the customers to be enabled") {
            await metric(port, #"credits_messages_applied_total{topic="credits.commands"}"#) >= Double(customerCount)
        }
        enabling.terminate()
        await enabling.waitForExit()
    }
    try loadInput(brokers: address, events: eventCount, customers: customerCount, part: .usage)

    // 1. The ceiling: the same messages, consumed raw.
    // Timed from the consumer's creation, as a kcat run would be (fetching starts at assignment).
    let rawStart = DispatchTime.now().uptimeNanoseconds
    let raw = try OutputTail(settings: settings, topics: [topics.usage], fromStart: true, logger: logger)
    var consumed = 0
    while consumed < eventCount { consumed += raw.poll(timeoutMilliseconds: 100).count }
    let rawSeconds = seconds(since: rawStart)
    raw.close()
    let rawRate = Double(eventCount) / rawSeconds

    // 2. End to end, from readiness until every balance-changed event is on the broker. The
    // measuring consumer does not wait for fuller fetches (it would add its own delay).
    var tailSettings = settings
    tailSettings.properties["fetch.wait.max.ms"] = ProcessInfo.processInfo.environment["CREDITS_BENCH_TAIL_FETCH_WAIT_MS"] ?? "1"
    let published = try OutputTail(settings: tailSettings, topics: [topics.balanceChanged], fromStart: false, logger: logger)
    let outputsBefore = try endOffsets(topics.outputs, settings: settings, logger: logger)
    let serve: Child
    if relayed {
        serve = try Child(CommandLine.arguments[0], ["relay", address], environment: [:], log: work + "/relay.log")
        try await waitFor(seconds: 120, "the relay") {
            ((try? String(contentsOfFile: work + "/relay.log", encoding: .utf8)) ?? "").contains("relay ready")
        }
    } else {
        serve = try Child(binary, ["serve"], environment: environment, log: work + "/serve.log")
        try await waitFor(seconds: 120, "readiness") { await ready(port) }
    }
    defer { serve.stop() }
    let usageBefore = await PhaseUsage.now(service: serve, broker: bed.broker, port: port)
    let start = DispatchTime.now().uptimeNanoseconds
    var seen = Set<String>()
    // When a tenth and nine tenths of the events were read back: the rate between the two is
    // the steady one, without the start (group join, first fetches) and the last stragglers.
    var tenth: (at: UInt64, count: Int)?
    var nineTenths: (at: UInt64, count: Int)?
    while seen.count < eventCount {
        for message in published.poll(timeoutMilliseconds: 100) { seen.insert(eventID(message.value)) }
        let now = DispatchTime.now().uptimeNanoseconds
        if tenth == nil && seen.count >= eventCount / 10 { tenth = (now, seen.count) }
        if nineTenths == nil && seen.count >= eventCount / 10 * 9 { nineTenths = (now, seen.count) }
        guard seconds(since: start) < 600 else { throw BenchError("only \(seen.count) events published in 600 s") }
    }
    let endToEnd = Double(eventCount) / seconds(since: start)
    let steady = tenth.flatMap { tenth in
        nineTenths.map { Double($0.count - tenth.count) / max(1e-9, Double($0.at - tenth.at) / 1e9) }
    }
    let throughputPhase = await PhaseUsage.now(service: serve, broker: bed.broker, port: port).since(usageBefore)
    let cpu = (service: throughputPhase.serviceCPU, broker: throughputPhase.brokerCPU)
    let outputsAfter = try endOffsets(topics.outputs, settings: settings, logger: logger)
    print("raw consume (own binding, no JSON, no store)   \(format(rawRate)) msg/s")
    print(
        "end to end (applied, committed, published)     \(format(endToEnd)) events/s   ratio \(String(format: "%.3f", endToEnd / rawRate))"
    )

    if let steady {
        print("  steady (a tenth to nine tenths read back)     \(format(steady)) events/s")
    }
    print(
        "CPU in that phase                              service \(String(format: "%.2f", cpu.service)) s, broker "
            + "\(String(format: "%.2f", cpu.broker)) s (\(String(format: "%.1f", 1e6 * (cpu.service + cpu.broker) / Double(eventCount))) µs per event)"
    )
    print("  in that phase: \(throughputPhase.summary)")
    let produced = topics.outputs.map { ($0, outputsAfter[$0, default: 0] - outputsBefore[$0, default: 0]) }.filter { $0.1 > 0 }
    print(
        "output messages in that phase                  "
            + produced.map { "\($0.0.replacingOccurrences(of: "credits.", with: "")) \($0.1)" }.joined(separator: ", "))

    // 3. Latency at fixed offered rates.
    var latencyRows: [JSONObjectWriter] = []
    // CREDITS_BENCH_PROBE_SECONDS sets how long each rate is offered (5 s by default; 100 s at
    // 10 000/s is the 1 000 000-event tail).
    let probeSeconds = ProcessInfo.processInfo.environment["CREDITS_BENCH_PROBE_SECONDS"].flatMap(Int.init) ?? 5
    for rate in [1_000, 10_000] {
        let before = await PhaseUsage.now(service: serve, broker: bed.broker, port: port)
        let latencies = try await latency(
            rate: rate, seconds: probeSeconds, customers: customerCount, settings: settings,
            tail: published, logger: logger)
        let phase = await PhaseUsage.now(service: serve, broker: bed.broker, port: port).since(before)
        print(
            "latency at \(format(Double(rate))) events/s offered: p50 \(latencies.total.p50) ms, p99 \(latencies.total.p99) ms, "
                + "max \(latencies.total.max) ms (\(latencies.count) events)")
        print(
            "  split at the service's produce call: before p50 \(latencies.toProduce.p50), p99 \(latencies.toProduce.p99), "
                + "max \(latencies.toProduce.max) ms; after p50 \(latencies.afterProduce.p50), p99 \(latencies.afterProduce.p99), "
                + "max \(latencies.afterProduce.max) ms")
        print("  in that phase: \(phase.summary)")
        var row = JSONObjectWriter()
        row.int("offered_per_second", Int64(rate))
        row.int("p50_ms", Int64(latencies.total.p50))
        row.int("p99_ms", Int64(latencies.total.p99))
        row.int("max_ms", Int64(latencies.total.max))
        row.int("events", Int64(latencies.count))
        row.int("before_produce_p99_ms", Int64(latencies.toProduce.p99))
        row.int("before_produce_max_ms", Int64(latencies.toProduce.max))
        row.int("after_produce_p99_ms", Int64(latencies.afterProduce.p99))
        row.int("after_produce_max_ms", Int64(latencies.afterProduce.max))
        phase.write(to: &row)
        latencyRows.append(row)
    }
    published.close()
    let peak = serve.peakResidentMiB()
    print(
        "service peak RSS (VmHWM)                        \(peak.map { String(format: "%.0f MiB", $0) } ?? "unknown")"
    )
    // The figures as JSON for scripts/render-benchmarks.py (CREDITS_BENCH_JSON=file).
    if let path = ProcessInfo.processInfo.environment["CREDITS_BENCH_JSON"] {
        var figures = JSONObjectWriter()
        figures.string("benchmark", relayed ? "e2e-relay" : "e2e")
        figures.string("measured_at", WallClock.now().description)
        figures.string("command", "credits-bench e2e \(eventCount) \(customerCount) \(partitions)")
        figures.int("events", Int64(eventCount))
        figures.string("event_mix", usageEventMix)
        figures.int("customers", Int64(customerCount))
        figures.int("partitions", Int64(partitions))
        figures.int("cores", Int64(ProcessInfo.processInfo.activeProcessorCount))
        figures.int("raw_consume_per_second", Int64(rawRate.rounded()))
        figures.int("end_to_end_per_second", Int64(endToEnd.rounded()))
        if let steady { figures.int("steady_per_second", Int64(steady.rounded())) }
        figures.int("cpu_microseconds_per_event", Int64((1e6 * (cpu.service + cpu.broker) / Double(eventCount)).rounded()))
        var throughputRow = JSONObjectWriter()
        throughputPhase.write(to: &throughputRow)
        figures.object("end_to_end_phase", throughputRow)
        figures.objectArray("latency", latencyRows)
        if let peak { figures.int("service_peak_rss_mib", Int64(peak.rounded())) }
        try (figures.finished() + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        print("figures written to \(path)")
    }
}

/// Latencies of one probe: from produce to the balance-changed event's arrival, and that time
/// split at the service's produce call (the output message's Kafka timestamp, wall clock, whole
/// milliseconds): before it (the input's way through the broker and the service) and after it
/// (the output's way through the broker to the reader).
struct ProbeLatencies {
    var total: Percentiles
    var toProduce: Percentiles
    var afterProduce: Percentiles
    var count: Int
}

/// Produces usage at `rate` per second for `seconds` and measures, per event, the time until its
/// balance-changed event arrives on `tail`.
private func latency(
    rate: Int, seconds duration: Int, customers: Int, settings: KafkaClientSettings,
    tail: OutputTail, logger: Logger
) async throws -> ProbeLatencies {
    var producerSettings = settings
    // Each event its own request by default (CREDITS_BENCH_PROBE_LINGER_MS batches them: on the
    // mock broker every request is a message set that later fetches walk past).
    producerSettings.properties["linger.ms"] = ProcessInfo.processInfo.environment["CREDITS_BENCH_PROBE_LINGER_MS"] ?? "0"
    let producer = try KafkaProducer(settings: producerSettings, logger: logger)
    let run = UUID().uuidString.prefix(6)
    var sentAt: [String: (uptime: UInt64, wallMilliseconds: Double)] = [:]
    var latencies: [Double] = []
    var toProduce: [Double] = []
    var afterProduce: [Double] = []
    var reports: [KafkaDelivery] = []
    let total = rate * duration
    let start = DispatchTime.now().uptimeNanoseconds
    var sent = 0
    while sent < total || latencies.count < sent {
        let now = DispatchTime.now().uptimeNanoseconds
        let due = min(total, Int(Double(now - start) / 1e9 * Double(rate)))
        while sent < due {
            let customer = customerID(sent % customers)
            let id = "lat-\(run)-\(rate)-\(sent)"
            try producer.send(
                topic: ServiceConfiguration.Topics().usage, key: customer,
                value:
                    #"{"event_id":"\#(id)","customer_id":"\#(customer)","occurred_at":"2026-11-24T10:15:00Z","call_seconds":30,"tool_calls":1}"#,
                token: Int64(sent), reports: &reports)
            sentAt["\(customer)/\(id)"] = (DispatchTime.now().uptimeNanoseconds, wallMilliseconds())
            sent += 1
        }
        reports += producer.pollDeliveries(timeoutMilliseconds: 0)
        for message in tail.poll(timeoutMilliseconds: 1) {
            guard let source = sourceKey(message.value), let sentTime = sentAt.removeValue(forKey: source) else { continue }
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - sentTime.uptime) / 1e6)
            if let produced = message.timestampMilliseconds.map(Double.init) {
                toProduce.append(produced - sentTime.wallMilliseconds)
                afterProduce.append(wallMilliseconds() - produced)
            }
        }
        if seconds(since: start) > Double(duration) + 60 { break }
        if sent == due { try await Task.sleep(for: .microseconds(200)) }
    }
    _ = producer.flush(timeoutMilliseconds: 10_000)
    return ProbeLatencies(
        total: Percentiles(latencies), toProduce: Percentiles(toProduce), afterProduce: Percentiles(afterProduce),
        count: latencies.count)
}

/// Now on the wall clock (the one Kafka timestamps use), in milliseconds since the epoch.
private func wallMilliseconds() -> Double { Date().timeIntervalSince1970 * 1000 }

/// p50, p99 and max of latencies in milliseconds, rounded to whole ones (-1 when there are none).
struct Percentiles {
    let p50: Int
    let p99: Int
    let max: Int

    init(_ latencies: [Double]) {
        let sorted = latencies.sorted()
        func at(_ fraction: Double) -> Int {
            sorted.isEmpty ? -1 : Int(sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))].rounded())
        }
        p50 = at(0.5)
        p99 = at(0.99)
        max = Int((sorted.last ?? -1).rounded())
    }
}

/// `credits-ledger broker` running as a process of its own with `partitions` per topic, in a
/// scratch folder, and the environment a `credits-ledger serve` beside it is started with (the
/// broker, group `bench-<name>`, a store in the folder, a free HTTP port; the caller's own
/// `CREDITS_*` settings, e.g. CREDITS_KAFKA_PROPERTIES="fetch.wait.max.ms=5", pass through).
struct BenchmarkBed {
    let binary: String
    let work: String
    let broker: Child
    let address: String
    let settings: KafkaClientSettings
    let port: Int
    let environment: [String: String]

    static func start(_ name: String, partitions: Int) async throws -> BenchmarkBed {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("credits-ledger").path
        let work = temporaryPath(name)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let broker = try Child(binary, ["broker", "--partitions", "\(partitions)"], environment: [:], log: work + "/broker.log")
        let address: String
        do {
            address = try await broker.firstLine()
        } catch {
            broker.stop()
            throw error
        }
        let port = try freePort()
        var environment = [
            "CREDITS_KAFKA_BROKERS": address, "CREDITS_KAFKA_GROUP_ID": "bench-\(name)",
            "CREDITS_STORE_PATH": work + "/ledger.sqlite", "CREDITS_HTTP_PORT": "\(port)",
        ]
        // The caller's CREDITS_ settings go to the service too (CREDITS_LOG_LEVEL=debug with
        // CREDITS_KAFKA_PROPERTIES=debug=fetch shows what its consumer did); the log is quiet otherwise.
        for (key, value) in ProcessInfo.processInfo.environment where key.hasPrefix("CREDITS_") && environment[key] == nil {
            environment[key] = value
        }
        if environment["CREDITS_LOG_LEVEL"] == nil { environment["CREDITS_LOG_LEVEL"] = "warning" }
        return BenchmarkBed(
            binary: binary, work: work, broker: broker, address: address,
            settings: KafkaClientSettings(bootstrapServers: address, properties: [:]), port: port, environment: environment)
    }
}

// The benchmark reads every output event back on the cores the service uses: it takes the fields
// it needs from the text as the ledger writes it (`plainString`), and parses in full only what
// does not look like that.

/// `customer/event_id` of a balance-changed event (its `source.id` is the usage's event_id).
private func sourceKey(_ value: [UInt8]) -> String? {
    if let customer = plainString(after: customerIDMarker, in: value),
        let source = end(of: sourceMarker, in: value),
        let id = plainString(after: idMarker, in: value, from: source)
    {
        return "\(customer)/\(id)"
    }
    guard case .object(let fields)? = try? JSONParser.parse(value),
        case .string(let customer)? = fields["customer_id"],
        case .object(let source)? = fields["source"], case .string(let id)? = source["id"]
    else { return nil }
    return "\(customer)/\(id)"
}

/// The `event_id` of an output event (the ledger writes it first).
private func eventID(_ value: [UInt8]) -> String {
    if value.starts(with: eventIDPrefix), let id = plainString(after: eventIDPrefix, in: value) { return id }
    guard case .object(let fields)? = try? JSONParser.parse(value), case .string(let id)? = fields["event_id"] else { return "" }
    return id
}

/// The text of the JSON string that starts right after the first `marker` (which ends with its
/// opening quote) from `start` on; nil when there is none or it holds an escape.
private func plainString(after marker: [UInt8], in value: [UInt8], from start: Int = 0) -> String? {
    guard let textStart = end(of: marker, in: value, from: start),
        let end = value[textStart...].firstIndex(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }),
        value[end] == UInt8(ascii: "\"")
    else { return nil }
    return String(decoding: value[textStart..<end], as: UTF8.self)
}

/// Where the first `marker` at or after `start` ends in `value`, nil when absent.
private func end(of marker: [UInt8], in value: [UInt8], from start: Int = 0) -> Int? {
    guard let first = marker.first, value.count >= marker.count, start <= value.count - marker.count else { return nil }
    return value.withUnsafeBufferPointer { bytes -> Int? in
        marker.withUnsafeBufferPointer { needle -> Int? in
            for index in start...(bytes.count - needle.count) where bytes[index] == first {
                if memcmp(bytes.baseAddress! + index, needle.baseAddress!, needle.count) == 0 { return index + needle.count }
            }
            return nil
        }
    }
}

private let eventIDPrefix = Array(#"{"event_id":""#.utf8)
private let customerIDMarker = Array(#""customer_id":""#.utf8)
private let sourceMarker = Array(#""source":{"#.utf8)
private let idMarker = Array(#""id":""#.utf8)

/// The end offset of every topic (summed over its partitions), asked of the broker.
private func endOffsets(_ topics: [String], settings: KafkaClientSettings, logger: Logger) throws -> [String: Int64] {
    let consumer = try KafkaConsumer(settings: settings, logger: logger)
    defer { consumer.close(timeoutMilliseconds: 1_000) }
    var ends: [String: Int64] = [:]
    for topic in topics {
        for index in 0..<(try consumer.partitionCount(of: topic)) {
            ends[topic, default: 0] += consumer.queryEndOffset(of: TopicPartition(topic: topic, partition: index)) ?? 0
        }
    }
    return ends
}

/// A loopback port nobody listens on now.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw BenchError("no free loopback port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

private func format(_ value: Double) -> String { String(format: "%9.0f", value) }

func ready(_ port: Int) async -> Bool { await httpBody(port, "/readyz")?.contains(#""ready":true"#) == true }

/// A series' value in the service's `/metrics` (0 when absent or unreachable).
func metric(_ port: Int, _ series: String) async -> Double {
    await httpBody(port, "/metrics")?.split(separator: "\n").first { $0.hasPrefix(series + " ") }
        .flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
}

func httpBody(_ port: Int, _ path: String) async -> String? {
    guard let url = URL(string: "http://127.0.0.1:\(port)\(path)"),
        let (data, _) = try? await URLSession.shared.data(from: url)
    else { return nil }
    return String(decoding: data, as: UTF8.self)
}

func waitFor(seconds limit: Double, _ what: String, _ condition: () async -> Bool) async throws {
    let start = DispatchTime.now().uptimeNanoseconds
    while !(await condition()) {
        guard seconds(since: start) < limit else { throw BenchError("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(100))
    }
}

/// A child process with its output in a log file.
final class Child {
    let process = Process()
    private let log: String

    init(_ binary: String, _ arguments: [String], environment: [String: String], log: String) throws {
        self.log = log
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// The first line the process printed (the broker prints its address).
    func firstLine() async throws -> String {
        try await waitFor(seconds: 30, "the broker's address") {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("\n")
        }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return String(text.split(separator: "\n").first { $0.contains(":") && !$0.contains(" ") } ?? "")
    }

    func terminate() { process.terminate() }

    func waitForExit() async {
        while process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
    }

    func stop() { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

    /// User and system CPU time so far, from `/proc/<pid>/stat` (0 when unreadable).
    func cpuSeconds() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
            let afterName = stat.lastIndex(of: ")")
        else { return 0 }
        // Fields after the name, from the state (field 3): utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: afterName)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// `VmHWM` from `/proc/<pid>/status`, in MiB.
    func peakResidentMiB() -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kib = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { return nil }
        return kib / 1024
    }
}
