import CreditsCore
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The built executable, started as a child process with its output in a file.
final class RunningExecutable {
    let process = Process()
    let outputURL: URL

    init(_ arguments: [String], environment: [String: String], directory: URL) throws {
        outputURL = directory.appendingPathComponent("output-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        process.executableURL = executableURL()
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.currentDirectoryURL = directory
        let handle = try FileHandle(forWritingTo: outputURL)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var output: String { (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "" }

    func waitForOutput(containing text: String, timeout: TimeInterval) async throws {
        try await waitUntil(timeout: timeout, "\"\(text)\" in the output:\n\(output.suffix(2000))") { output.contains(text) }
    }

    func waitForExit(timeout: TimeInterval) async throws -> Int32 {
        try await waitUntil(timeout: timeout, "the process to exit") { !process.isRunning }
        return process.terminationStatus
    }

    /// The HTTP port from the log line `HTTP listening port=…`.
    func httpPort(timeout: TimeInterval = 60) async throws -> Int {
        try await waitForOutput(containing: "HTTP listening", timeout: timeout)
        let line = output.split(separator: "\n").first { $0.contains("HTTP listening") } ?? ""
        guard let port = line.components(separatedBy: "port=").last?.split(separator: " ").first.flatMap({ Int($0) }) else {
            throw HarnessError("no port in \(line)")
        }
        return port
    }
}

func executableURL() -> URL {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
        "credits-ledger")
    if FileManager.default.fileExists(atPath: beside.path) { return beside }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/credits-ledger")
}

@Suite("The credits-ledger executable", .serialized)
struct ExecutableTests {
    @Test("serve with no broker configured starts the embedded broker, logs its address, and exits 0 on SIGTERM after draining")
    func serveAndStop() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("credits-exe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let serve = try RunningExecutable(
            ["serve"], environment: ["CREDITS_HTTP_PORT": "0", "CREDITS_KAFKA_BROKERS": "embedded"],
            directory: directory)
        try await serve.waitForOutput(containing: "Partitions assigned", timeout: 60)
        #expect(serve.output.contains("Embedded Kafka broker running"))
        let address = serve.output.split(separator: "\n").first { $0.contains("bootstrap_servers=") }
            .flatMap { $0.components(separatedBy: "bootstrap_servers=").last?.split(separator: " ").first.map(String.init) }
        #expect(address?.hasPrefix("127.0.0.1:") == true)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("data/credits-ledger.sqlite").path))

        // The demo publishes its story to this broker and prints what the service emits.
        let demo = try RunningExecutable(
            ["demo", "--brokers", address ?? "", "--watch", "12"], environment: [:],
            directory: directory)
        #expect(try await demo.waitForExit(timeout: 90) == 0, "\(demo.output.suffix(2000))")
        let shown = demo.output
        #expect(shown.contains(#""type":"used""#))
        #expect(shown.contains(#""reason":"insufficient_balance""#))
        #expect(shown.contains(#""reason":"credits_not_enabled""#))
        #expect(shown.contains(#""type":"blocked""#), "a customer ran out and was blocked after 5 s")
        #expect(shown.contains(#""type":"unblocked""#), "a Quick Buy unblocked a customer in grace")
        #expect(shown.contains("credits.low-credit"))
        #expect(shown.contains(#""code":"invalid_usage""#))
        #expect(
            shown.contains(#"live-21/1","customer_id":"#)
                && shown.contains(#""decision":"denied","reason":"insufficient_credits""#))
        #expect(shown.components(separatedBy: #""decision":"granted","granted_seconds":300"#).count - 1 >= 20)
        #expect(shown.contains(#""decision":"final""#), "a call got final")
        #expect(shown.contains(#""decision":"released""#))
        #expect(shown.contains("credits.top-up-requests") && shown.contains(#"/2/top-up","customer_id":"demo-wonka-"#))
        #expect(shown.contains(#""status":"duplicate""#), "the top-up request paid twice is applied once")
        #expect(shown.contains(#""type":"expired""#) && shown.contains(#""kind":"expiry""#), "the trial credits expired")

        // No console token is configured: the logged loopback address signs in once, into a list
        // that shows the demo's customers.
        let signInURL = try #require(
            serve.output.split(separator: "\n").first { $0.contains("Operator console") }
                .flatMap { $0.components(separatedBy: "url=").last?.split(separator: " ").first.map(String.init) })
        #expect(signInURL.hasPrefix("http://127.0.0.1:") && signInURL.contains("/console/sign-in?token="))
        let browse = """
            import http.cookiejar, sys, urllib.error, urllib.request
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
            page = opener.open(sys.argv[1]).read().decode()
            print("list:", "Customer List" in page, "local-operator" in page, "demo-wonka" in page)
            try:
                urllib.request.urlopen(sys.argv[1])
                print("again: opened")
            except urllib.error.HTTPError as error:
                print("again:", error.code)
            """
        let console = try await runOffThePool(["python3", "-c", browse, signInURL], directory: directory)
        #expect(console.status == 0 && console.report.contains("list: True True True"), "\(console.report)")
        #expect(console.report.contains("again: 401"), "the one-time address works once: \(console.report)")

        serve.process.terminate()  // SIGTERM
        #expect(try await serve.waitForExit(timeout: 30) == 0)
        #expect(serve.output.contains("Shutdown requested"))
        #expect(serve.output.contains("credits-ledger stopped"))

        // Run it again on the same store: a new embedded broker, whose topics start empty.
        let again = try RunningExecutable(
            ["serve"],
            environment: [
                "CREDITS_HTTP_PORT": "0",
                "CREDITS_KAFKA_BROKERS": "embedded",
            ],
            directory: directory)
        try await again.waitForOutput(containing: "Partitions assigned", timeout: 60)
        #expect(again.output.contains("offsets of the previous run forgotten"))
        let secondAddress = again.output.split(separator: "\n").first { $0.contains("bootstrap_servers=") }
            .flatMap { $0.components(separatedBy: "bootstrap_servers=").last?.split(separator: " ").first.map(String.init) }
        let enable = try RunningExecutable(
            ["admin", "enable", "cus_second_run", "--brokers", secondAddress ?? ""],
            environment: [:], directory: directory)
        #expect(try await enable.waitForExit(timeout: 60) == 0, "\(enable.output)")
        #expect(enable.output.contains(#""status":"applied""#))
        again.process.terminate()
        #expect(try await again.waitForExit(timeout: 30) == 0)
    }
}

@Suite("Crash recovery of the real process", .serialized)
struct CrashRecoveryTests {
    @Test("kill -9 in the middle of a stream: after a restart every event is applied exactly once and every entry is published")
    func killNine() async throws {
        let h = try ServiceHarness(partitions: 3)
        let directory = h.directory
        let environment = h.executableEnvironment([
            "CREDITS_KAFKA_PROPERTIES": "session.timeout.ms=6000,heartbeat.interval.ms=500,"
                + ServiceHarness.embeddedClientProperties,
            "CREDITS_PIPELINE_BATCH_MAX_MESSAGES": "50",
        ])
        let customers = (0..<4).map { "cus_k\($0)" }
        var serve = try RunningExecutable(["serve"], environment: environment, directory: directory)
        try await serve.waitForOutput(containing: "Partitions assigned", timeout: 60)
        for customer in customers {
            try await h.sendCommand(
                h.command("en-\(customer)", customer, "enable_credits", #""settings":{"price_per_minute":"6"}"#),
                key: customer)
        }
        try await h.waitFor("credits.command-results", count: customers.count)
        let total = 2_000
        for index in 0..<total {
            let customer = customers[index % customers.count]
            try await h.sendUsage(h.usage("ev-\(index)", customer, #""call_seconds":\#(index % 50 + 1)"#), key: customer)
            if index == 700 {
                try await waitUntil(timeout: 30, "some usage to be applied") {
                    (try? h.reader().account(customers[0])?.lastEntryID ?? 0) ?? 0 > 10
                }
                kill(serve.process.processIdentifier, SIGKILL)
                _ = try await serve.waitForExit(timeout: 10)
                serve = try RunningExecutable(["serve"], environment: environment, directory: directory)
            }
        }
        // 6 credits a minute = 0.1 credit (100 000 micro-credits) a second.
        try await h.expectExactBalances(customers, total: total, timeout: 90) { Int64($0 % 50 + 1) * 100_000 }
        // At least once out: every entry's balance-changed event arrives (duplicates carry the same event_id).
        let published = try await h.waitForDistinct("credits.balance-changed", count: total, timeout: 60)
        #expect(published.count == total)
        serve.process.terminate()
        #expect(try await serve.waitForExit(timeout: 30) == 0)
    }
}

@Suite("Oversized input through the real process", .serialized)
struct OversizedInputTests {
    @Test(
        "a 400 KB key, a 900 KB value with a 300 KB key, 500 KB of headers: dead letters that fit, ready throughout, the restart works"
    )
    func oversizedInput() async throws {
        let h = try ServiceHarness(partitions: 1)
        let environment = h.executableEnvironment()
        var serve = try RunningExecutable(["serve"], environment: environment, directory: h.directory)
        try await serve.waitForOutput(containing: "Partitions assigned", timeout: 60)
        try await h.sendCommand(h.command("en-big", "cus_big", "enable_credits"), key: "cus_big")
        try await h.waitFor("credits.command-results")

        let hugeKey = String(repeating: "k", count: 400_000)
        try await h.sendUsage(h.usage("u-key", "cus_big", #""tool_calls":1"#), key: hugeKey)
        let bigValue = h.usage("u-value", "cus_big", #""note":"\#(String(repeating: "v", count: 900_000))","tool_calls":1"#)
        try await h.sendUsage(bigValue, key: String(repeating: "q", count: 300_000))
        let headers: [(name: String, value: [UInt8])] = [
            (name: "x-padding", value: Array(repeating: 0x61, count: 250_000)),
            (name: "x-signature", value: Array(repeating: 0x62, count: 250_000)),
        ]
        try await h.sendCommand(
            h.command("add-big", "cus_big", "add_credits", #""amount":"10","note":"with headers""#), key: "cus_big",
            headers: headers)
        try await h.sendUsage(h.usage("u-after", "cus_big", #""tool_calls":1"#), key: "cus_big")

        let letters = try await h.waitFor("credits.dead-letter", count: 2, timeout: 60)
        #expect(letters.count == 2)
        let byKeyMismatch = letters.first { $0["error"]?["code"]?.text == "key_mismatch" }
        #expect(byKeyMismatch?["key_truncated"] == .bool(true), "\(letters.map { $0["error"] })")
        #expect(byKeyMismatch?["key_bytes"]?.text == "400000")
        #expect((byKeyMismatch?["key"]?.text?.utf8.count ?? .max) <= 1_024)
        let oversized = letters.first { $0["payload_truncated"] == .bool(true) }
        #expect(oversized?["key_bytes"]?.text == "300000", "\(letters.map { $0["error"] })")
        #expect((oversized?["payload"]?.text?.utf8.count ?? .max) <= InputDecoder.maximumPayloadBytes)
        // The command with large headers and the usage after everything are applied.
        try await h.waitFor("credits.balance-changed", count: 2, timeout: 60) { $0["customer_id"]?.text == "cus_big" }
        let port = try await serve.httpPort()
        #expect(try await httpGet(port, "/readyz").0 == 200)
        #expect(serve.process.isRunning)
        #expect(!serve.output.contains("Message size too large"), "\(serve.output.suffix(3000))")

        // A restart replays nothing that could stop it: it becomes ready and applies new input.
        serve.process.terminate()
        #expect(try await serve.waitForExit(timeout: 30) == 0)
        serve = try RunningExecutable(["serve"], environment: environment, directory: h.directory)
        try await serve.waitForOutput(containing: "Partitions assigned", timeout: 60)
        try await h.sendUsage(h.usage("u-restart", "cus_big", #""tool_calls":1"#), key: "cus_big")
        try await h.waitFor("credits.balance-changed", count: 3, timeout: 60) { $0["customer_id"]?.text == "cus_big" }
        #expect(try await httpGet(try await serve.httpPort(), "/readyz").0 == 200)
        #expect(try h.reader().account("cus_big")?.lastEntryID == 3)
        serve.process.terminate()
        #expect(try await serve.waitForExit(timeout: 30) == 0)
    }
}
