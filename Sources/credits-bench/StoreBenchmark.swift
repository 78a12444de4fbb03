import CSQLite
import CreditsCore
import CreditsStore
import Foundation

// Store micro-benchmark: applies batches of usage events through the real store (WAL,
// synchronous=FULL as in the service, or NORMAL with CREDITS_BENCH_SYNCHRONOUS=normal; one
// transaction per batch) and through a naive baseline doing the same
// work with one freshly prepared statement per write and a text idempotency key, in the same run.

let now = Timestamp(rfc3339: "2026-11-24T10:00:00Z")!

/// The folder every temporary path of this run is in (removed when the run ends).
let scratchFolder = FileManager.default.temporaryDirectory.appendingPathComponent("credits-bench-\(UUID().uuidString)")

func temporaryPath(_ name: String) -> String {
    let directory = scratchFolder.appendingPathComponent(UUID().uuidString)
    try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent(name).path
}

func customerID(_ index: Int) -> String { "cus_\(index)" }

func usageEvents(_ eventCount: Int, customers customerCount: Int) -> [InboundMessage] {
    (0..<eventCount).map { index in
        let usage = UsageEvent(
            eventID: "call-\(index)/1", customerID: customerID(index % customerCount),
            occurredAt: now, callID: "call-\(index)", callSeconds: Int64(index % 600),
            aiCosts: .init(llm: USDAmount(nanos: 12_300_000), stt: USDAmount(nanos: 4_000_000)),
            toolCalls: Int64(index % 4))
        return InboundMessage(
            origin: MessageOrigin(
                topic: "credits.usage", partition: 0, offset: Int64(index),
                key: usage.customerID, payload: []), input: .usage(usage))
    }
}

func enableCommands(_ customerCount: Int) -> [InboundMessage] {
    (0..<customerCount).map { index in
        let command = AdminCommand(
            commandID: "enable-\(index)", customerID: customerID(index), issuedAt: now, actor: "bench",
            action: .enableCredits(SettingsChange(pricePerMinute: .some(CreditAmount(credits: 2)))))
        return InboundMessage(
            origin: MessageOrigin(
                topic: "credits.commands", partition: 0, offset: Int64(index),
                key: command.customerID, payload: []), input: .command(command))
    }
}

/// One add_credits of a billion credits per customer.
func fundingCommands(_ customerCount: Int) -> [InboundMessage] {
    (0..<customerCount).map { index in
        let command = AdminCommand(
            commandID: "fund-\(index)", customerID: customerID(index), issuedAt: now, actor: "bench",
            action: .addCredits(amount: CreditAmount(credits: 1_000_000_000), note: "bench"))
        return InboundMessage(
            origin: MessageOrigin(
                topic: "credits.commands", partition: 0, offset: Int64(customerCount + index),
                key: command.customerID, payload: []), input: .command(command))
    }
}

func measure(_ label: String, events eventCount: Int, _ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    let cpuStart = processCPUSeconds()
    try body()
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let cpuMicrosPerEvent = (processCPUSeconds() - cpuStart) * 1e6 / Double(eventCount)
    let rate = Double(eventCount) / seconds
    // CPU time leaves out the waits for fsync, the noisiest part of this machine's timings.
    print(
        "\(label.padding(toLength: 38, withPad: " ", startingAt: 0)) \(String(format: "%9.0f", rate)) events/s  (\(String(format: "%.2f", seconds)) s, \(String(format: "%.2f", cpuMicrosPerEvent)) µs CPU per event)"
    )
    return rate
}

/// User and system CPU time of this process so far.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Start-up cost of a store: opening it reads the runs' hashes into the filter and the newest
/// keys into memory.
func reopenFigures(_ path: String) throws {
    let before = residentKiB()
    let start = DispatchTime.now().uptimeNanoseconds
    let reopened = try LedgerStore(path: path, ledger: Ledger())
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let grown = Double(residentKiB() - before) * 1024
    let figures = reopened.keyIndexFigures
    print(
        "reopen: \(String(format: "%.2f", seconds)) s; \(reopened.recentKeyCount) keys in memory, \(figures.runs) runs "
            + "on disk, filter \(figures.filterBytes / 1024) KiB; resident memory +\(String(format: "%.1f", grown / 1_048_576)) MiB"
    )
}

/// Resident set size of this process, from /proc.
func residentKiB() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
}

/// Runs the store benchmark and the naive baseline on the same events.
func storeBenchmark(events eventCount: Int, customers customerCount: Int, batch batchSize: Int, storeOnly: Bool) throws {
    let events = usageEvents(eventCount, customers: customerCount)
    let storePath = temporaryPath("ledger.sqlite")
    var options = LedgerStore.Options()
    options.synchronousFull = ProcessInfo.processInfo.environment["CREDITS_BENCH_SYNCHRONOUS"] != "normal"
    if let runSize = ProcessInfo.processInfo.environment["CREDITS_BENCH_KEY_RUN_SIZE"].flatMap(Int.init) {
        options.keyRunSize = runSize
    }
    let store = try LedgerStore(path: storePath, ledger: Ledger(), options: options)
    try store.apply(enableCommands(customerCount), at: now)
    // CREDITS_BENCH_FUNDED=1: every customer gets credits first, so usage draws from a grant.
    if ProcessInfo.processInfo.environment["CREDITS_BENCH_FUNDED"] == "1" {
        try store.apply(fundingCommands(customerCount), at: now)
    }
    try store.markDelivered(through: Int64.max)
    print(
        "credits-bench store: \(eventCount) usage events, \(customerCount) customers, batches of \(batchSize), "
            + "synchronous=\(options.synchronousFull ? "FULL" : "NORMAL")")
    let batched = try measure("store (batched, cached statements)", events: eventCount) {
        var start = 0
        var times: [(Double, Int)] = []  // (milliseconds, first event of the batch)
        while start < events.count {
            let end = min(start + batchSize, events.count)
            let t0 = DispatchTime.now().uptimeNanoseconds
            try store.apply(Array(events[start..<end]), at: now)
            times.append((Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6, start))
            start = end
        }
        // The pauses: a batch that takes much longer than the others holds every event behind it.
        let sorted = times.sorted { $0.0 > $1.0 }
        if let slowest = sorted.first {
            print(
                "batch apply time: median \(String(format: "%.1f", sorted[sorted.count / 2].0)) ms, p99 "
                    + "\(String(format: "%.1f", sorted[sorted.count / 100].0)) ms, max \(String(format: "%.1f", slowest.0)) ms "
                    + "(the batch from event \(slowest.1)); slowest: "
                    + sorted.prefix(5).map { "\(Int($0.0)) ms" }.joined(separator: ", "))
        }
    }
    guard try LedgerReader(path: storePath).verify().isClean else { fatalError("verify failed after the benchmark") }
    // The figure as JSON for scripts/render-benchmarks.py (CREDITS_BENCH_JSON=file).
    if let path = ProcessInfo.processInfo.environment["CREDITS_BENCH_JSON"] {
        var figures = JSONObjectWriter()
        figures.string("benchmark", "store")
        figures.string("measured_at", WallClock.now().description)
        figures.string("command", "credits-bench store \(eventCount) \(customerCount) \(batchSize)")
        figures.bool("synchronous_full", options.synchronousFull)
        figures.int("store_per_second", Int64(batched.rounded()))
        try (figures.finished() + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        print("figures written to \(path)")
    }
    store.close()
    try reopenFigures(storePath)
    if storeOnly { return }
    let naive = NaiveStore(path: temporaryPath("naive.sqlite"))
    naive.exec("BEGIN")
    for index in 0..<customerCount {
        naive.exec("INSERT INTO customers VALUES ('\(customerID(index))', 1, 0, 0, 2000000)")
    }
    naive.exec("COMMIT")
    let baseline = measure("naive baseline (statement per write)", events: eventCount) {
        var start = 0
        let ledger = Ledger()
        while start < events.count {
            let end = min(start + batchSize, events.count)
            naive.apply(events[start..<end], ledger: ledger)
            start = end
        }
    }
    print("speed-up over the naive baseline: \(String(format: "%.1f", batched / baseline))x")
}

// MARK: Naive baseline

/// The same work with one statement per write: text idempotency key looked up then inserted,
/// balance read and written per event, statements prepared for every write.
final class NaiveStore {
    let db: OpaquePointer

    init(path: String) {
        var pointer: OpaquePointer?
        sqlite3_open(path, &pointer)
        db = pointer!
        exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        exec(
            """
            CREATE TABLE customers (customer_id TEXT PRIMARY KEY, enabled INTEGER, balance INTEGER, last_entry_id INTEGER,
                price_per_minute INTEGER);
            CREATE TABLE entries (id INTEGER PRIMARY KEY, customer_id TEXT, entry_id INTEGER, amount INTEGER, balance INTEGER,
                note TEXT, source_id TEXT, recorded_at INTEGER);
            CREATE TABLE idempotency (customer_id TEXT, event_id TEXT, fingerprint INTEGER, PRIMARY KEY (customer_id, event_id));
            CREATE TABLE outbox (seq INTEGER PRIMARY KEY, topic INTEGER, key TEXT, value TEXT);
            """)
    }

    func exec(_ sql: String) { sqlite3_exec(db, sql, nil, nil, nil) }

    func run(_ sql: String, _ bind: (OpaquePointer) -> Void, row: ((OpaquePointer) -> Void)? = nil) {
        var statement: OpaquePointer?
        sqlite3_prepare_v2(db, sql, -1, &statement, nil)
        bind(statement!)
        while sqlite3_step(statement) == SQLITE_ROW { row?(statement!) }
        sqlite3_finalize(statement)
    }

    func text(_ statement: OpaquePointer, _ index: Int32, _ value: String) {
        sqlite3_bind_text(statement, index, value, -1, csqlite_transient())
    }

    func apply(_ batch: ArraySlice<InboundMessage>, ledger: Ledger) {
        exec("BEGIN IMMEDIATE")
        for message in batch {
            guard case .usage(let usage) = message.input else { continue }
            var seen = false
            run(
                "SELECT fingerprint FROM idempotency WHERE customer_id = ? AND event_id = ?",
                {
                    self.text($0, 1, usage.customerID)
                    self.text($0, 2, usage.eventID)
                }, row: { _ in seen = true })
            if seen { continue }
            run(
                "INSERT INTO idempotency VALUES (?, ?, ?)",
                {
                    self.text($0, 1, usage.customerID)
                    self.text($0, 2, usage.eventID)
                    sqlite3_bind_int64($0, 3, usage.legacyFingerprint)
                })
            var account = CustomerAccount.new(usage.customerID)
            run(
                "SELECT enabled, balance, last_entry_id, price_per_minute FROM customers WHERE customer_id = ?",
                {
                    self.text($0, 1, usage.customerID)
                },
                row: {
                    account.creditsEnabled = sqlite3_column_int64($0, 0) != 0
                    account.balance = CreditAmount(micros: sqlite3_column_int64($0, 1))
                    account.lastEntryID = sqlite3_column_int64($0, 2)
                    account.settings.pricePerMinute = CreditAmount(micros: sqlite3_column_int64($0, 3))
                })
            guard let transition = try? ledger.apply(usage, to: account, at: now) else { continue }
            for entry in transition.entries {
                run(
                    "INSERT INTO entries(customer_id, entry_id, amount, balance, note, source_id, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    {
                        self.text($0, 1, entry.customerID)
                        sqlite3_bind_int64($0, 2, entry.entryID)
                        sqlite3_bind_int64($0, 3, entry.amount.micros)
                        sqlite3_bind_int64($0, 4, entry.balance.micros)
                        self.text($0, 5, entry.note)
                        self.text($0, 6, entry.source.id)
                        sqlite3_bind_int64($0, 7, entry.recordedAt.millisecondsSinceEpoch)
                    })
            }
            for event in transition.allEvents {
                let message = event.message
                run(
                    "INSERT INTO outbox(topic, key, value) VALUES (?, ?, ?)",
                    {
                        sqlite3_bind_int64($0, 1, Int64(message.topic.rawValue))
                        self.text($0, 2, message.key)
                        self.text($0, 3, message.value)
                    })
            }
            run(
                "UPDATE customers SET balance = ?, last_entry_id = ? WHERE customer_id = ?",
                {
                    sqlite3_bind_int64($0, 1, transition.account.balance.micros)
                    sqlite3_bind_int64($0, 2, transition.account.lastEntryID)
                    self.text($0, 3, usage.customerID)
                })
        }
        exec("COMMIT")
    }
}
