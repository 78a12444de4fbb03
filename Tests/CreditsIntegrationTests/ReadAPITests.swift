import CreditsCore
import CreditsStore
import Foundation
import Testing

@Suite("Read API: who needs attention, the balance at a time, projections (HTTP and CLI)")
struct ReadAPITests {
    @Test("/usage over a range holding more entries than http.usage_scan_limit is a 422 range_too_large naming from")
    func usageScanLimit() async throws {
        let h = try ServiceHarness { $0.httpUsageScanLimit = 3 }
        try await h.start()
        try await h.sendCommand(h.command("on", "r_busy", "enable_credits"), key: "r_busy")
        try await h.waitFor("credits.command-results")
        for index in 0..<4 { try await h.sendUsage(h.usage("u\(index)", "r_busy", #""tool_calls":1"#), key: "r_busy") }
        try await h.waitFor("credits.balance-changed", count: 4)
        let range = "from=2026-11-24T00:00:00Z&to=2026-11-25T00:00:00Z"
        let (status, body) = try await httpGet(h.httpPort, "/v1/customers/r_busy/usage?\(range)")
        #expect(status == 422, "\(body)")
        #expect(json(body)["error"]?["code"]?.text == "range_too_large")
        #expect(json(body)["error"]?["field"]?.text == "from")
        // A range with fewer entries than the limit is answered.
        let (shortStatus, shortBody) = try await httpGet(
            h.httpPort, "/v1/customers/r_busy/usage?from=2026-11-24T10:14:00Z&to=2026-11-24T10:14:30Z")
        #expect(shortStatus == 200, "\(shortBody)")
        try await h.stop()
    }

    @Test("lists by state and low credit in pages, balance at a time, projections, and their errors")
    func listsAndBalanceAt() async throws {
        let h = try ServiceHarness()
        try await h.start()
        let port = h.httpPort
        let settings =
            #""settings":{"price_per_minute":"1","grace_period_seconds":0,"low_credit_threshold":"50","low_credit_alerts":true}"#
        for c in ["r_low", "r_ok", "r_out"] {
            try await h.sendCommand(h.command("on-\(c)", c, "enable_credits", settings), key: c)
            try await h.sendCommand(h.command("add-\(c)", c, "add_credits", #""amount":"100","note":"n""#), key: c)
        }
        try await h.waitFor("credits.command-results", count: 6)
        let beforeUsage = WallClock.now()
        try await Task.sleep(for: .milliseconds(20))
        // Stamped now, so the usage is inside the burn rate's 24-hour window.
        func usage(_ id: String, _ customer: String, seconds: Int) -> String {
            #"{"event_id":"\#(id)","customer_id":"\#(customer)","occurred_at":"\#(WallClock.now())","call_seconds":\#(seconds)}"#
        }
        try await h.sendUsage(usage("u1", "r_low", seconds: 3600), key: "r_low")  // 40: low credit
        try await h.sendUsage(usage("u2", "r_out", seconds: 12000), key: "r_out")  // -100: blocked
        // The first alert came with enabling at 0; the second with the usage.
        let alert = try #require(try await h.waitFor("credits.low-credit", count: 2) { $0["customer_id"]?.text == "r_low" }.last)
        #expect(alert["minutes_left"]?.text == "40" && alert["burn_rate_per_hour"]?.text == "2.5")
        #expect(alert["projected_depletion_at"]?.text != nil)
        try await h.waitFor("credits.blocks", count: 1) { $0["type"]?.text == "blocked" }

        func ids(_ query: String) async throws -> ([String], String?) {
            let (status, body) = try await httpGet(port, "/v1/customers\(query)")
            #expect(status == 200, "\(query): \(body)")
            guard case .array(let rows) = json(body)["customers"] else { return ([], nil) }
            return (rows.compactMap { $0["customer_id"]?.text }, json(body)["next_cursor"]?.text)
        }
        #expect(try await ids("").0 == ["r_low", "r_ok", "r_out"])
        #expect(try await ids("?state=blocked").0 == ["r_out"])
        #expect(try await ids("?low_credit=true").0 == ["r_low", "r_out"])
        #expect(try await ids("?state=active&low_credit=true").0 == ["r_low"])
        let first = try await ids("?limit=2")
        #expect(first.0 == ["r_low", "r_ok"] && first.1 == "r_ok")
        #expect(try await ids("?limit=2&cursor=r_ok") == (["r_out"], nil))
        for (query, field) in [("?state=broke", "state"), ("?low_credit=maybe", "low_credit"), ("?limit=0", "limit")] {
            let (status, body) = try await httpGet(port, "/v1/customers\(query)")
            #expect(status == 400 && json(body)["error"]?["field"]?.text == field, "\(query): \(body)")
        }

        let (status, body) = try await httpGet(port, "/v1/customers/r_low/balance?at=\(beforeUsage)")
        #expect(status == 200, "\(body)")
        #expect(json(body)["balance"]?.text == "100" && json(body)["entry_id"]?.text == "1")
        let (_, now) = try await httpGet(port, "/v1/customers/r_low/balance?at=2100-01-01T00:00:00Z")
        #expect(json(now)["balance"]?.text == "40" && json(now)["entry_id"]?.text == "2")
        #expect(try await httpGet(port, "/v1/customers/r_low/balance").0 == 400)
        #expect(try await httpGet(port, "/v1/customers/r_low/balance?at=yesterday").0 == 400)
        #expect(try await httpGet(port, "/v1/customers/nobody/balance?at=2100-01-01T00:00:00Z").0 == 404)

        let (_, account) = try await httpGet(port, "/v1/customers/r_low")
        #expect(json(account)["minutes_left"]?.text == "40" && json(account)["version"]?.text == "3")
        #expect(json(account)["burn_rate_per_hour"]?.text == "2.5")

        let (auditStatus, auditBody) = try await httpGet(port, "/v1/customers/r_low/audit?limit=1")
        #expect(auditStatus == 200, "\(auditBody)")
        guard case .array(let records) = json(auditBody)["audit"] else {
            Issue.record("no audit: \(auditBody)")
            return
        }
        #expect(records.first?["command_id"]?.text == "add-r_low" && records.first?["actor"]?.text == "it")
        if case .array(let changes)? = records.first?["changes"] { #expect(changes.first?["field"]?.text == "balance") }
        let next = try #require(json(auditBody)["next_cursor"]?.text)
        let (_, older) = try await httpGet(port, "/v1/customers/r_low/audit?cursor=\(next)")
        if case .array(let olderRecords)? = json(older)["audit"] {
            #expect(olderRecords.first?["type"]?.text == "enable_credits")
        } else {
            Issue.record("no older audit: \(older)")
        }
        #expect(try await httpGet(port, "/v1/customers/r_low/audit?cursor=abc").0 == 400)
        #expect(try await httpGet(port, "/v1/customers/nobody/audit").0 == 404)

        let environment = ["CREDITS_STORE_PATH": h.configuration.storePath]
        let audit = try runCLI(["audit", "r_low"], environment: environment)
        #expect(audit.status == 0 && audit.output.contains("it  add_credits add-r_low  balance 0 -> 100"), "\(audit.output)")
        let blocked = try runCLI(["customers", "--state", "blocked"], environment: environment)
        #expect(blocked.status == 0 && blocked.output.contains("r_out,blocked,-100,50,"), "\(blocked.output)")
        let then = try runCLI(["balance", "r_low", "--at", beforeUsage.description], environment: environment)
        #expect(then.status == 0 && then.output.contains(": 100 (after entry 1)"), "\(then.output)")
        let shown = try runCLI(["balance", "r_low"], environment: environment)
        #expect(
            shown.output.contains("minutes left:    40") && shown.output.contains("burn rate:       2.5/h"), "\(shown.output)")
        try await h.stop()
    }
}
