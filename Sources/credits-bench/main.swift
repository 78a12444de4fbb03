import Foundation

// credits-bench: figures, not tests.
//
//   swift run -c release credits-bench [store] [events] [customers] [batch]   store vs naive baseline
//   swift run -c release credits-bench pipeline [events] [customers]          end to end on the embedded broker
//   credits-bench e2e [events] [customers] [partitions]                        broker and service as processes (docs/performance.md)
//   credits-bench calls [customers] [partitions]                               call decision latency (docs/performance.md)
//   credits-bench keys [keys] [customers]                                     start-up and memory with many idempotency keys
//   credits-bench relay <brokers>                                              the e2e control: no ledger (CREDITS_BENCH_SERVICE=relay)
//   credits-bench load <brokers> [events] [customers] [commands|usage|both]    input for scripts/bench-scaling.sh
//   credits-bench sim [seeds] [first seed] [steps] [postgres URL]             the deterministic simulator as a soak
//
// CREDITS_BENCH_STORE_ONLY=1 skips the naive baseline (for profiling); CREDITS_BENCH_PROBE_SECONDS
// sets how long e2e offers each latency rate (5 s by default), CREDITS_BENCH_PROBE_LINGER_MS the
// probe producer's linger.ms (0 by default), CREDITS_BENCH_TAIL_FETCH_WAIT_MS the measuring
// consumer's fetch.wait.max.ms (1 by default), CREDITS_BENCH_SERVICE=relay runs e2e against the relay
// instead of the ledger (the bed's own figures).

var words = Array(CommandLine.arguments.dropFirst())
let mode = words.first.flatMap { Int($0) == nil ? $0 : nil } ?? "store"
if words.first == mode { words.removeFirst() }
let numbers = words.compactMap { Int($0) }
// The stores and logs a run makes go with it ("reopen" runs in a child and uses its parent's).
defer { if mode != "reopen" { try? FileManager.default.removeItem(at: scratchFolder) } }

switch mode {
case "store":
    try storeBenchmark(
        events: numbers.count > 0 ? numbers[0] : 200_000, customers: numbers.count > 1 ? numbers[1] : 10_000,
        batch: numbers.count > 2 ? numbers[2] : 2_000,
        storeOnly: ProcessInfo.processInfo.environment["CREDITS_BENCH_STORE_ONLY"] != nil)
case "pipeline":
    try await pipelineBenchmark(
        events: numbers.count > 0 ? numbers[0] : 200_000,
        customers: numbers.count > 1 ? numbers[1] : 10_000)
case "e2e":
    try await endToEndBenchmark(
        events: numbers.count > 0 ? numbers[0] : 150_000,
        customers: numbers.count > 1 ? numbers[1] : 10_000,
        partitions: numbers.count > 2 ? numbers[2] : 32)
case "relay":
    guard let brokers = words.first else {
        print("usage: credits-bench relay <brokers>  (run by CREDITS_BENCH_SERVICE=relay credits-bench e2e)")
        exit(2)
    }
    try relay(brokers: brokers)
case "calls":
    try await callLatencyBenchmark(
        customers: numbers.count > 0 ? numbers[0] : 1_000, partitions: numbers.count > 1 ? numbers[1] : 32,
        rates: [1_000, 5_000])
case "keys":
    try keysBenchmark(keys: numbers.count > 0 ? numbers[0] : 10_000_000, customers: numbers.count > 1 ? numbers[1] : 1_000_000)
case "reopen":
    guard words.count == 3, numbers.count == 2 else {
        print("usage: credits-bench reopen <store path> <keys> <customers>  (run by credits-bench keys)")
        exit(2)
    }
    try reopenBenchmark(path: words[0], keys: numbers[0], customers: numbers[1])
case "load":
    guard let brokers = words.first(where: { Int($0) == nil }),
        let part = LoadPart(rawValue: words.last(where: { Int($0) == nil && $0 != brokers }) ?? "both")
    else {
        print("usage: credits-bench load <brokers> [events] [customers] [commands|usage|both]")
        exit(2)
    }
    try loadInput(
        brokers: brokers, events: numbers.count > 0 ? numbers[0] : 100_000,
        customers: numbers.count > 1 ? numbers[1] : 2_000, part: part)
case "sim":
    try simulationSoak(
        seeds: numbers.count > 0 ? numbers[0] : 100, firstSeed: UInt64(numbers.count > 1 ? numbers[1] : 1),
        steps: numbers.count > 2 ? numbers[2] : 400, postgresURL: words.first { $0.hasPrefix("postgres") })
default:
    print("usage: credits-bench [store|pipeline|e2e|calls|keys|load|sim] [events] [customers] [batch|partitions]")
    exit(2)
}
