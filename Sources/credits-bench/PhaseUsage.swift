import CreditsCore
import Foundation

/// Where the time of a latency probe went, so that a tail can be told apart: the CPU each
/// process used (a process near 100 % of a core is the bottleneck) and the service's own apply
/// batches by duration (from its `credits_apply_batch_duration` histogram). A tail with no slow
/// batch was spent outside the service's apply path.
struct PhaseUsage {
    var seconds: Double
    var serviceCPU: Double
    var brokerCPU: Double
    var benchCPU: Double
    /// Apply batches at or under each bound in seconds, cumulative as Prometheus keeps them.
    var batchesAtOrUnder: [(bound: Double, count: Double)]
    /// Seconds the service spent applying batches (the histogram's sum): near `seconds`, its
    /// pipeline thread had no time to spare.
    var applySeconds: Double
    /// The machine's busy and total CPU ticks over all its cores (`/proc/stat`): whether the cores
    /// had time to spare, whoever used them.
    var machineTicks: (busy: Double, total: Double)

    static func now(service: Child, broker: Child, port: Int) async -> PhaseUsage {
        let histogram = await batchDurations(port)
        return PhaseUsage(
            seconds: Double(DispatchTime.now().uptimeNanoseconds) / 1e9, serviceCPU: service.cpuSeconds(),
            brokerCPU: broker.cpuSeconds(), benchCPU: processCPUSeconds(),
            batchesAtOrUnder: histogram.buckets, applySeconds: histogram.sum, machineTicks: machineCPUTicks())
    }

    /// The usage between `earlier` and this one.
    func since(_ earlier: PhaseUsage) -> PhaseUsage {
        let before = Dictionary(earlier.batchesAtOrUnder.map { ($0.bound, $0.count) }, uniquingKeysWith: { $1 })
        return PhaseUsage(
            seconds: seconds - earlier.seconds, serviceCPU: serviceCPU - earlier.serviceCPU,
            brokerCPU: brokerCPU - earlier.brokerCPU, benchCPU: benchCPU - earlier.benchCPU,
            batchesAtOrUnder: batchesAtOrUnder.map { ($0.bound, $0.count - before[$0.bound, default: 0]) },
            applySeconds: applySeconds - earlier.applySeconds,
            machineTicks: (machineTicks.busy - earlier.machineTicks.busy, machineTicks.total - earlier.machineTicks.total))
    }

    /// The share of all the machine's cores that was busy, in percent.
    var machineBusyPercent: Int { machineTicks.total > 0 ? Int((100 * machineTicks.busy / machineTicks.total).rounded()) : 0 }

    /// All apply batches of the phase.
    var batches: Int { Int(batchesAtOrUnder.last { $0.bound.isInfinite }?.count ?? 0) }

    /// Apply batches of the phase that took longer than `bound` seconds (a histogram bound).
    func batches(over bound: Double) -> Int? {
        guard let atOrUnder = batchesAtOrUnder.first(where: { $0.bound == bound }) else { return nil }
        return batches - Int(atOrUnder.count)
    }

    private func percentOfCore(_ cpu: Double) -> Int { seconds > 0 ? Int((100 * cpu / seconds).rounded()) : 0 }

    var summary: String {
        let slow = [0.05, 0.1, 0.25].compactMap { bound in
            batches(over: bound).map { "\($0) over \(Int(bound * 1000)) ms" }
        }
        return "CPU, % of one core: service \(percentOfCore(serviceCPU)), broker \(percentOfCore(brokerCPU)), "
            + "load and probe \(percentOfCore(benchCPU)); service apply batches \(batches)"
            + (slow.isEmpty ? "" : " (" + slow.joined(separator: ", ") + ")")
            + ", in apply \(percentOfCore(applySeconds)) % of the time; machine busy \(machineBusyPercent) % of "
            + "\(ProcessInfo.processInfo.activeProcessorCount) cores"
    }

    func write(to row: inout JSONObjectWriter) {
        row.int("service_cpu_percent", Int64(percentOfCore(serviceCPU)))
        row.int("broker_cpu_percent", Int64(percentOfCore(brokerCPU)))
        row.int("bench_cpu_percent", Int64(percentOfCore(benchCPU)))
        row.int("apply_batches", Int64(batches))
        if let over = batches(over: 0.1) { row.int("apply_batches_over_100_ms", Int64(over)) }
        row.int("apply_percent_of_time", Int64(percentOfCore(applySeconds)))
        row.int("machine_busy_percent", Int64(machineBusyPercent))
    }
}

/// The service's `credits_apply_batch_duration` histogram: its cumulative buckets and its sum
/// (seconds).
private func batchDurations(_ port: Int) async -> (buckets: [(bound: Double, count: Double)], sum: Double) {
    let prefix = #"credits_apply_batch_duration_bucket{le=""#
    let sumPrefix = "credits_apply_batch_duration_sum "
    guard let text = await httpBody(port, "/metrics") else { return ([], 0) }
    var sum = 0.0
    let buckets: [(bound: Double, count: Double)] = text.split(separator: "\n").compactMap { line in
        if line.hasPrefix(sumPrefix) { sum = Double(line.dropFirst(sumPrefix.count)) ?? 0 }
        guard line.hasPrefix(prefix) else { return nil }
        let rest = line.dropFirst(prefix.count)
        guard let quote = rest.firstIndex(of: "\""), let count = Double(rest.split(separator: " ").last ?? "") else {
            return nil
        }
        let label = rest[..<quote]
        let bound = label == "+Inf" ? Double.infinity : Double(label)
        return bound.map { ($0, count) }
    }
    return (buckets, sum)
}

/// Busy and total CPU ticks of the machine, all cores (`/proc/stat`'s first line: user, nice,
/// system, idle, iowait, irq, softirq, steal); zeros when unreadable.
private func machineCPUTicks() -> (busy: Double, total: Double) {
    guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
        let line = stat.split(separator: "\n").first, line.hasPrefix("cpu ")
    else { return (0, 0) }
    let fields = line.split(separator: " ").dropFirst().prefix(8).compactMap { Double($0) }
    guard fields.count == 8 else { return (0, 0) }
    let idle = fields[3] + fields[4]
    let total = fields.reduce(0, +)
    return (total - idle, total)
}
