import CreditsCore
import CreditsService
import CreditsTestSupport
import Foundation
import Logging
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// GET on the service's HTTP port: status and body.
func httpGet(_ port: Int, _ path: String, token: String? = nil) async throws -> (Int, String) {
    var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
    if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
    let (data, response) = try await URLSession.shared.data(for: request)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}

func json(_ text: String) -> JSONValue { (try? JSONParser.parse(Array(text.utf8))) ?? .null }

/// Runs the built `credits-ledger` executable.
func runCLI(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("credits-ledger")
    let executable =
        FileManager.default.fileExists(atPath: binary.path)
        ? binary
        : URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/credits-ledger")
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    process.currentDirectoryURL = FileManager.default.temporaryDirectory
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Suite("Operator surface: HTTP API, metrics, readiness, CLI", .serialized)
struct OperatorSurfaceTests {
    @Test("readiness is 503 before partitions are assigned and 200 after; healthz answers at once")
    func readiness() async throws {
        let h = try ServiceHarness()
        h.broker.setRoundTripTime(2_000)  // the group cannot be joined before the first look
        let server = CreditsServer(configuration: h.configuration, bootstrapServers: h.broker.bootstrapServers, logger: h.logger)
        let task = Task { try await server.run() }
        try await waitUntil(timeout: 30, "HTTP to listen") { server.status.snapshot.httpPort != nil }
        let port = server.status.snapshot.httpPort!
        let (health, _) = try await httpGet(port, "/healthz")
        #expect(health == 200)
        let (before, beforeBody) = try await httpGet(port, "/readyz")
        #expect(before == 503)
        #expect(json(beforeBody)["ready"] == .bool(false))
        h.broker.setRoundTripTime(0)
        try await waitUntil(timeout: 30, "assignment") { server.status.snapshot.isReady }
        let (after, afterBody) = try await httpGet(port, "/readyz")
        #expect(after == 200)
        guard case .array(let partitions) = json(afterBody)["assigned_partitions"] else {
            Issue.record("no partitions")
            return
        }
        #expect(partitions.count == 4)
        await server.shutdown()
        try await task.value
    }

    @Test("customer, paginated history with type filter, usage buckets, and every error path")
    func api() async throws {
        let h = try ServiceHarness()
        try await h.start()
        let port = h.httpPort
        try await h.sendCommand(
            h.command("e", "cus_api", "enable_credits", #""settings":{"price_per_minute":"6"}"#), key: "cus_api")
        try await h.sendCommand(h.command("a", "cus_api", "add_credits", #""amount":"100","note":"Monthly""#), key: "cus_api")
        try await h.waitFor("credits.command-results", count: 2)
        for index in 1...5 {
            try await h.sendUsage(
                #"{"event_id":"u\#(index)","customer_id":"cus_api","occurred_at":"2026-11-24T1\#(index):00:00Z","call_seconds":60,"tool_calls":1}"#,
                key: "cus_api")
        }
        try await h.waitFor("credits.balance-changed", count: 6)

        let (status, body) = try await httpGet(port, "/v1/customers/cus_api")
        #expect(status == 200)
        let account = json(body)
        #expect(account["balance"]?.text == "69.85")
        #expect(account["credits_enabled"] == .bool(true))
        #expect(account["state"]?.text == "active")
        #expect(account["settings"]?["price_per_minute"]?.text == "6")
        #expect(account["settings"]?["grace_period_seconds"]?.text == "300")
        #expect(account["settings"]?["credits_per_usd"]?.text == "100", "the service default, in effect for this customer")

        let (_, page1) = try await httpGet(port, "/v1/customers/cus_api/transactions?limit=4")
        guard case .array(let first) = json(page1)["transactions"] else {
            Issue.record("no transactions")
            return
        }
        #expect(first.map { $0["entry_id"]?.text } == ["6", "5", "4", "3"])
        #expect(first[0]["type"]?.text == "used" && first[0]["amount"]?.text == "-6.03")
        #expect(first[0]["date"]?.text == "2026-11-24T15:00:00.000Z", "date is when the usage occurred")
        let cursor = try #require(json(page1)["next_cursor"]?.text)
        let (_, page2) = try await httpGet(port, "/v1/customers/cus_api/transactions?limit=4&cursor=\(cursor)")
        guard case .array(let second) = json(page2)["transactions"] else {
            Issue.record("no page 2")
            return
        }
        #expect(second.map { $0["entry_id"]?.text } == ["2", "1"])
        #expect(json(page2)["next_cursor"] == .null)
        let (_, added) = try await httpGet(port, "/v1/customers/cus_api/transactions?type=added")
        guard case .array(let addedRows) = json(added)["transactions"] else {
            Issue.record("no filter")
            return
        }
        #expect(addedRows.map { $0["note"]?.text } == ["Monthly"])

        let (_, usage) = try await httpGet(
            port, "/v1/customers/cus_api/usage?from=2026-11-24T00:00:00Z&to=2026-11-25T00:00:00Z&bucket=hour")
        guard case .array(let buckets) = json(usage)["buckets"] else {
            Issue.record("no buckets")
            return
        }
        #expect(buckets.count == 5)
        #expect(buckets.first?["start"]?.text == "2026-11-24T11:00:00.000Z")
        #expect(buckets.first?["call_credits"]?.text == "6" && buckets.first?["tool_call_credits"]?.text == "0.03")
        let (_, daily) = try await httpGet(port, "/v1/customers/cus_api/usage?from=2026-11-24T00:00:00Z&to=2026-11-25T00:00:00Z")
        guard case .array(let days) = json(daily)["buckets"] else {
            Issue.record("no days")
            return
        }
        #expect(days.count == 1 && days.first?["total_credits"]?.text == "30.15")

        let errors: [(String, Int, String, String?)] = [
            ("/v1/customers/nobody", 404, "customer_not_found", nil),
            ("/v1/customers/nobody/transactions", 404, "customer_not_found", nil),
            ("/v1/customers/cus_api/transactions?limit=0", 400, "invalid_parameter", "limit"),
            ("/v1/customers/cus_api/transactions?limit=abc", 400, "invalid_parameter", "limit"),
            ("/v1/customers/cus_api/transactions?type=refund", 400, "invalid_parameter", "type"),
            ("/v1/customers/cus_api/transactions?cursor=x", 400, "invalid_parameter", "cursor"),
            ("/v1/customers/cus_api/usage?bucket=week", 400, "invalid_parameter", "bucket"),
            ("/v1/customers/cus_api/usage?from=yesterday", 400, "invalid_parameter", "from"),
            ("/v1/customers/cus_api/usage?from=0001-01-01T00:00:00Z", 400, "invalid_parameter", "from"),
            (
                "/v1/customers/cus_api/usage?from=2025-01-01T00:00:00Z&to=2026-01-03T00:00:00Z&bucket=hour", 400,
                "invalid_parameter", "from"
            ),
            ("/v1/customers/bad%20id", 400, "invalid_parameter", "id"),
        ]
        for (path, expectedStatus, code, field) in errors {
            let (status, body) = try await httpGet(port, path)
            #expect(status == expectedStatus, "\(path)")
            #expect(json(body)["error"]?["code"]?.text == code, "\(path)")
            #expect(json(body)["error"]?["field"]?.text == field, "\(path)")
            #expect(json(body)["error"]?["message"]?.text?.isEmpty == false)
        }
        try await h.stop()
    }

    @Test("with a token, /v1 needs it; health, readiness and metrics stay open")
    func auth() async throws {
        let h = try ServiceHarness { $0.httpTokens = [.init(scope: .read, secret: Secret(Array("s3cret".utf8)))] }
        try await h.start()
        #expect(try await httpGet(h.httpPort, "/v1/customers/x").0 == 401)
        #expect(try await httpGet(h.httpPort, "/v1/customers/x", token: "wrong").0 == 401)
        #expect(try await httpGet(h.httpPort, "/v1/customers/x", token: "s3cret").0 == 404)
        #expect(try await httpGet(h.httpPort, "/metrics").0 == 200)
        try await h.stop()
    }

    @Test("scoped tokens: a read token reads /v1 only, a metrics token /metrics only; 401 without, 403 with the wrong one")
    func tokenScopes() async throws {
        let h = try ServiceHarness {
            $0.httpTokens = [
                .init(scope: .read, secret: Secret(Array("reader-1".utf8))),
                .init(scope: .read, secret: Secret(Array("reader-2".utf8))),
                .init(scope: .metrics, secret: Secret(Array("scraper".utf8))),
            ]
        }
        try await h.start()
        let port = h.httpPort
        #expect(try await httpGet(port, "/v1/customers/x").0 == 401)
        #expect(try await httpGet(port, "/v1/customers/x", token: "reader-1").0 == 404)
        #expect(try await httpGet(port, "/v1/customers/x", token: "reader-2").0 == 404)
        let (forbidden, body) = try await httpGet(port, "/v1/customers/x", token: "scraper")
        #expect(forbidden == 403)
        #expect(json(body)["error"]?["code"]?.text == "forbidden")
        #expect(try await httpGet(port, "/metrics").0 == 401)
        #expect(try await httpGet(port, "/metrics", token: "reader-1").0 == 403)
        #expect(try await httpGet(port, "/metrics", token: "scraper").0 == 200)
        #expect(try await httpGet(port, "/metrics", token: "scraper-").0 == 401)
        #expect(try await httpGet(port, "/healthz").0 == 200)
        #expect(try await httpGet(port, "/readyz").0 == 200)
        try await h.stop()
    }

    @Test("metrics move when messages are applied, dead-lettered and rejected")
    func metrics() async throws {
        let h = try ServiceHarness()
        try await h.start()
        func value(_ text: String, _ series: String) -> Double {
            text.split(separator: "\n").first { $0.hasPrefix(series + " ") }
                .flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        }
        let (_, before) = try await httpGet(h.httpPort, "/metrics")
        try await h.sendCommand(h.command("e", "cus_m", "enable_credits"), key: "cus_m")
        try await h.sendCommand(
            h.command("d", "cus_m", "deduct_credits", #""amount":"5","reason":"manual","note":"n""#), key: "cus_m")
        try await h.sendUsage("{oops", key: "cus_m")
        try await h.waitFor("credits.dead-letter")
        try await h.waitFor("credits.command-results", count: 2)
        let (_, after) = try await httpGet(h.httpPort, "/metrics")
        let applied = #"credits_messages_applied_total{topic="credits.commands"}"#
        #expect(value(after, applied) - value(before, applied) == 2)
        #expect(value(after, #"credits_messages_dead_lettered_total{topic="credits.usage",reason="invalid_json"}"#) == 1)
        #expect(value(after, #"credits_commands_rejected_total{reason="insufficient_balance"}"#) == 1)
        #expect(value(after, #"credits_messages_consumed_total{topic="credits.usage"}"#) == 1)
        #expect(after.contains("credits_apply_batch_size_bucket"))
        #expect(after.contains("credits_apply_batch_duration_bucket"))
        try await h.stop()
    }

    @Test("the admin CLI publishes commands, prints results and exits non-zero on rejection; balance and verify read the store")
    func cli() async throws {
        let h = try ServiceHarness()
        try await h.start()
        let brokers = ["--brokers", h.broker.bootstrapServers]
        let rejected = try runCLI(["admin", "add", "cus_cli", "--amount", "10", "--note", "Monthly"] + brokers)
        #expect(rejected.status == 1)
        #expect(rejected.output.contains(#""reason":"credits_not_enabled""#))
        let enabled = try runCLI(["admin", "enable", "cus_cli", "--price-per-minute", "2", "--actor", "ops@agency"] + brokers)
        #expect(enabled.status == 0, "\(enabled.output)")
        let added = try runCLI(["admin", "add", "cus_cli", "--amount", "10.5", "--note", "Monthly"] + brokers)
        #expect(added.status == 0)
        #expect(added.output.contains(#""status":"applied""#) && added.output.contains(#""balance":"10.5""#))
        let deduct = try runCLI(["admin", "deduct", "cus_cli", "--amount", "20", "--reason", "refund", "--note", "x"] + brokers)
        #expect(deduct.status == 1 && deduct.output.contains("insufficient_balance"))
        let store = ["CREDITS_STORE_PATH": h.configuration.storePath]
        let balance = try runCLI(["balance", "cus_cli"], environment: store)
        #expect(balance.status == 0 && balance.output.contains("balance:         10.5"))
        let history = try runCLI(["history", "cus_cli", "--csv"], environment: store)
        #expect(history.output.contains(#"1,added,10.5,10.5,"Monthly","#))
        let verify = try runCLI(["verify"], environment: store)
        #expect(verify.status == 0 && verify.output.contains("all consistent"))
        let copy = h.directory.appendingPathComponent("backup.sqlite").path
        let backup = try runCLI(["backup", copy], environment: store)
        #expect(
            backup.status == 0 && backup.output.contains("1 entries") && backup.output.contains("the copy verifies"),
            "\(backup.output)")
        try await h.stop()
    }
}

@Suite("HTTP before the store exists")
struct StoreUnavailableTests {
    @Test("the read API answers 503 store_unavailable in JSON when the store cannot be opened")
    func storeMissing() async throws {
        var configuration = ServiceConfiguration()
        configuration.storePath = "/nonexistent-\(UUID().uuidString)/ledger.sqlite"
        configuration.httpHost = "127.0.0.1"
        configuration.httpPort = 0
        let status = ServiceStatus()
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let app = HTTPServer.make(
            configuration: configuration, bootstrapServers: "127.0.0.1:9", status: status, metrics: ServiceMetrics(),
            logger: logger)
        let task = Task { try await app.runService() }
        try await waitUntil(timeout: 30, "HTTP to listen") { status.snapshot.httpPort != nil }
        let (code, body) = try await httpGet(status.snapshot.httpPort!, "/v1/customers/cus_1")
        #expect(code == 503)
        #expect(json(body)["error"]?["code"]?.text == "store_unavailable")
        task.cancel()
        _ = await task.result
    }
}

@Suite("Monitoring kit: the Grafana dashboard and the alert rules against /metrics")
struct MonitoringKitTests {
    @Test("the dashboard and the alert rules use only metrics the service exposes")
    func monitoringKitMetrics() async throws {
        let h = try ServiceHarness()
        try await h.start()
        // Traffic that makes every labelled series appear: an applied, a duplicate, a dead
        // letter, a rejection and an uncharged usage.
        try await h.sendCommand(h.command("e", "cus_m", "enable_credits", #""settings":{"price_per_minute":"6"}"#), key: "cus_m")
        try await h.sendCommand(
            h.command("d", "cus_m", "deduct_credits", #""amount":"5","reason":"manual","note":"n""#), key: "cus_m")
        let usage = h.usage("u1", "cus_m", #""call_seconds":60"#)
        try await h.sendUsage(usage, key: "cus_m")
        try await h.sendUsage(usage, key: "cus_m")
        try await h.sendUsage("not json", key: "cus_m")
        try await h.sendUsage(h.usage("u2", "cus_off", #""call_seconds":60"#), key: "cus_off")
        try await h.waitFor("credits.dead-letter", count: 1)
        let used = try Self.metricNamesUsedByTheKit()
        // The two topics are applied independently, so a series may appear a moment after
        // another: wait (bounded) until every name the kit uses is there, then check /metrics.
        let everyName = used.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        try? await waitUntil(timeout: 20, "the metrics the kit uses") {
            let exposed = Self.metricNames(in: h.server?.metrics.exposition() ?? "")
            return everyName.isSubset(of: exposed)
        }
        let (status, exposition) = try await httpGet(h.httpPort, "/metrics")
        #expect(status == 200)
        let exposed = Self.metricNames(in: exposition)
        for (file, names) in used {
            for name in names.sorted() {
                #expect(exposed.contains(name), "\(file) uses \(name), which /metrics does not expose")
            }
        }
        try await h.stop()
    }

    /// The metric names in a Prometheus text exposition (sample lines only).
    private static func metricNames(in exposition: String) -> Set<String> {
        Set(
            exposition.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap {
                $0.split(whereSeparator: { $0 == "{" || $0 == " " }).first.map(String.init)
            })
    }

    /// The `credits_*` names in the PromQL of the Grafana dashboard and the alert rules, by file.
    private static func metricNamesUsedByTheKit() throws -> [String: Set<String>] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        var used: [String: Set<String>] = [:]
        for file in ["docker/grafana/dashboards/credits-ledger.json", "docker/alerts.yml"] {
            // The PromQL expressions: `"expr": "…"` in the dashboard, `expr: …` in the rules.
            let expressions = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
                .split(separator: "\n").filter { $0.contains(/"?expr"?:/) }
            let names = expressions.flatMap { $0.matches(of: /credits_[a-z_]+/).map { String($0.output) } }
            used[file] = Set(names)
            #expect(!names.isEmpty, "\(file) uses no metric")
        }
        return used
    }
}
