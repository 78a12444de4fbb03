import CreditsCore
import CreditsStore
import Foundation

// Start-up and memory with many idempotency keys: builds a store holding `keys` usage events of
// `customers` customers, then opens it in a fresh process (`credits-bench reopen`), as a
// restarted service would, and applies new events and repeats of old ones there.

/// The usage event number `index` of the key benchmark (its key is "call-<index>/1").
private func keyEvent(_ index: Int, customers: Int) -> InboundMessage {
    let usage = UsageEvent(
        eventID: "call-\(index)/1", customerID: customerID(index % customers), occurredAt: now,
        callID: "call-\(index)", callSeconds: Int64(index % 600), toolCalls: Int64(index % 4))
    return InboundMessage(
        origin: MessageOrigin(
            topic: "credits.usage", partition: 0, offset: Int64(index),
            key: usage.customerID, payload: []), input: .usage(usage))
}

/// Builds the store, then measures its opening in a child process.
func keysBenchmark(keys keyCount: Int, customers customerCount: Int) throws {
    let path = temporaryPath("ledger.sqlite")
    defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
    var options = LedgerStore.Options()
    options.synchronousFull = false
    let store = try LedgerStore(path: path, ledger: Ledger(), options: options)
    print("credits-bench keys: building a store of \(keyCount) usage events over \(customerCount) customers …")
    let build = DispatchTime.now().uptimeNanoseconds
    for first in stride(from: 0, to: customerCount, by: 10_000) {
        try store.apply(
            (first..<min(first + 10_000, customerCount)).map { index in
                let command = AdminCommand(
                    commandID: "enable-\(index)", customerID: customerID(index), issuedAt: now,
                    actor: "bench", action: .enableCredits(SettingsChange(pricePerMinute: .some(CreditAmount(credits: 2)))))
                return InboundMessage(
                    origin: MessageOrigin(
                        topic: "credits.commands", partition: 0, offset: Int64(index),
                        key: command.customerID, payload: []), input: .command(command))
            }, at: now)
    }
    var next = 0
    while next < keyCount {
        let end = min(next + 10_000, keyCount)
        try store.apply((next..<end).map { keyEvent($0, customers: customerCount) }, at: now)
        try store.markDelivered(through: Int64.max)
        next = end
    }
    store.close()
    let buildSeconds = Double(DispatchTime.now().uptimeNanoseconds - build) / 1e9
    let size = ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) / 1_048_576
    print("built in \(String(format: "%.0f", buildSeconds)) s; store file \(size) MiB")
    fflush(nil)  // the child writes to the same output
    let child = Process()
    child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    child.arguments = ["reopen", path, "\(keyCount)", "\(customerCount)"]
    try child.run()
    child.waitUntilExit()
    guard child.terminationStatus == 0 else { throw BenchError("the reopening process failed") }
}

/// In a fresh process: opens the store, applies 20 000 new events and 20 000 repeats of random
/// old ones (all must be found), and prints the times and the peak resident memory.
func reopenBenchmark(path: String, keys keyCount: Int, customers customerCount: Int) throws {
    let baseline = peakResidentKiB()
    let start = DispatchTime.now().uptimeNanoseconds
    let store = try LedgerStore(path: path, ledger: Ledger())
    let openSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let figures = store.keyIndexFigures
    print(
        "open: \(String(format: "%.2f", openSeconds)) s (\(store.recentKeyCount) keys in memory, \(figures.runs) runs on "
            + "disk, filter \(figures.filterBytes / 1_048_576) MiB); peak resident memory \(peakResidentKiB() / 1024) MiB")
    var rng = SystemRandomNumberGenerator()
    let fresh = (keyCount..<(keyCount + 20_000)).map { keyEvent($0, customers: customerCount) }
    let repeats = (0..<20_000).map { _ in keyEvent(Int.random(in: 0..<keyCount, using: &rng), customers: customerCount) }
    let applyStart = DispatchTime.now().uptimeNanoseconds
    var applied = 0
    var duplicates = 0
    for batch in stride(from: 0, to: 20_000, by: 2_000) {
        let report = try store.apply(Array(fresh[batch..<(batch + 2_000)]) + Array(repeats[batch..<(batch + 2_000)]), at: now)
        applied += report.applied
        duplicates += report.duplicates
    }
    let applySeconds = Double(DispatchTime.now().uptimeNanoseconds - applyStart) / 1e9
    guard applied == 20_000, duplicates == 20_000 else {
        throw BenchError("expected 20 000 applied and 20 000 duplicates, got \(applied) and \(duplicates)")
    }
    print(
        "then 20 000 new events and 20 000 repeats of random old keys (every repeat found) in batches of 4 000: "
            + "\(String(format: "%.0f", 40_000 / applySeconds)) events/s; "
            + "peak resident memory \(peakResidentKiB() / 1024) MiB (\(baseline / 1024) MiB before opening)")
}

/// `VmHWM` of this process, in KiB.
private func peakResidentKiB() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
}
