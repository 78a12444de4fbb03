import CreditsCore
import CreditsStore
import CreditsTestSupport
import Foundation
import Testing

/// Call holds through Kafka: call events on credits.usage, decisions on credits.call-grants.
@Suite("Call holds through Kafka", .serialized)
struct CallHoldIntegrationTests {
    static let grants = "credits.call-grants"

    func callEvent(_ h: ServiceHarness, _ type: String, _ customer: String, _ call: String, id: String? = nil) -> (
        json: String, key: String
    ) {
        let suffix = type == "call_started" ? "start" : "end"
        return (
            #"{"event_id":"\#(id ?? "\(call)/\(suffix)")","type":"\#(type)","customer_id":"\#(customer)","call_id":"\#(call)","occurred_at":"2026-11-24T10:15:00Z"}"#,
            customer
        )
    }

    /// Enables `customers` at 6 credits a minute (a 300 s hold is 30 credits) with `credits` each.
    func prepare(_ h: ServiceHarness, _ customers: [String], credits: Int, settings: String = "") async throws {
        let extra = settings.isEmpty ? "" : "," + settings
        try await h.sendAll(
            h.configuration.topics.commands,
            customers.flatMap { c in
                [
                    (h.command("en-\(c)", c, "enable_credits", #""settings":{"price_per_minute":"6"\#(extra)}"#), c),
                    (h.command("add-\(c)", c, "add_credits", #""amount":"\#(credits)","note":"start""#), c),
                ]
            })
        try await h.waitFor("credits.command-results", count: customers.count * 2)
    }

    func decisions(_ h: ServiceHarness, _ customer: String) -> [[String: JSONValue]] {
        var seen = Set<String>()
        return h.messages(Self.grants, customer: customer).filter { seen.insert($0["event_id"]?.text ?? "").inserted }
    }

    @Test("30 concurrent starts per customer against 20 holds' worth: 20 granted, 10 denied; ends release; repeats republish")
    func admissionCappedByBalance() async throws {
        let h = try ServiceHarness(partitions: 4)
        try await h.start()
        let customers = (0..<4).map { "cus_h\($0)" }
        try await prepare(h, customers, credits: 600)
        try await h.sendAll(
            h.configuration.topics.usage,
            (0..<30).flatMap { n in customers.map { callEvent(h, "call_started", $0, "c\(n)") } })
        try await h.waitFor(Self.grants, count: 120)
        let reader = try h.reader()
        for customer in customers {
            let kinds = decisions(h, customer).map { $0["decision"]?.text ?? "" }
            #expect(kinds.filter { $0 == "granted" }.count == 20 && kinds.filter { $0 == "denied" }.count == 10, "\(customer)")
            let account = try #require(try reader.account(customer))
            #expect(account.held.description == "600" && account.available == .zero && account.calls.live.count == 20)
        }
        // End five granted calls each; repeat one start; then five new starts find the freed credits.
        let granted = customers.map { c in
            decisions(h, c).filter { $0["decision"]?.text == "granted" }.compactMap { $0["call_id"]?.text }
        }
        try await h.sendAll(
            h.configuration.topics.usage,
            zip(customers, granted).flatMap { c, calls in
                calls.prefix(5).map { callEvent(h, "call_ended", c, $0) } + [callEvent(h, "call_started", c, calls[6])]
            })
        try await h.waitFor(Self.grants, count: 120 + 24)
        try await h.sendAll(
            h.configuration.topics.usage,
            (30..<35).flatMap { n in customers.map { callEvent(h, "call_started", $0, "c\(n)") } })
        try await h.waitFor(Self.grants, count: 120 + 24 + 20)
        for (customer, calls) in zip(customers, granted) {
            let all = decisions(h, customer)
            #expect(all.filter { $0["decision"]?.text == "released" }.count == 5)
            let repeated = h.messages(Self.grants, customer: customer).filter { $0["call_id"]?.text == calls[6] }
            #expect(repeated.count >= 2 && Set(repeated.map { $0["event_id"]?.text }).count == 1, "a repeat: the same decision")
            let fresh = all.filter { ($0["call_id"]?.text ?? "") >= "c30" && $0["call_id"]?.text?.count == 3 }
            #expect(fresh.filter { $0["decision"]?.text == "granted" }.count == 5, "\(customer): freed holds admit new calls")
            let account = try #require(try reader.account(customer))
            #expect(account.held.description == "600" && account.calls.live.count == 20)
        }
        let state = try await h.waitFor("credits.accounts", where: { $0["live_calls"]?.text == "20" })
        #expect(state.last?["held"]?.text == "600" && state.last?["available"]?.text == "0")
        try await h.stop()
    }

    @Test("usage shrinks a hold; an extension is granted while credits last, then final, then granted again after a top-up")
    func extensionAndFinal() async throws {
        let h = try ServiceHarness(partitions: 2)
        try await h.start()
        try await prepare(h, ["cus_e"], credits: 30)
        try await h.sendUsage(callEvent(h, "call_started", "cus_e", "c1").json, key: "cus_e")
        try await h.sendUsage(h.usage("u1", "cus_e", #""call_id":"c1","call_seconds":200"#), key: "cus_e")
        try await h.waitFor(Self.grants, count: 2)
        try await h.sendCommand(h.command("top", "cus_e", "add_credits", #""amount":"100","note":"top-up""#), key: "cus_e")
        try await h.waitFor("credits.command-results", count: 3)
        try await h.sendUsage(h.usage("u2", "cus_e", #""call_id":"c1","call_seconds":10"#), key: "cus_e")
        try await h.sendUsage(callEvent(h, "call_ended", "cus_e", "c1").json, key: "cus_e")
        try await h.waitFor(Self.grants, count: 4)
        let all = decisions(h, "cus_e")
        #expect(all.map { $0["decision"]?.text ?? "" } == ["granted", "final", "granted", "released"])
        #expect(all.map { $0["granted_seconds"]?.text ?? "-" } == ["300", "300", "510", "-"])
        #expect(all.map { $0["event_id"]?.text ?? "" } == (1...4).map { "cus_e/c1/\($0)" })
        #expect(try h.reader().account("cus_e")?.balance.description == "109")
        try await h.stop()
    }

    @Test("holds survive a restart and expire after it, at processing time")
    func expiryAfterRestart() async throws {
        let h = try ServiceHarness(partitions: 2)
        try await h.start()
        try await prepare(h, ["cus_x"], credits: 100, settings: #""call_hold_seconds":30"#)
        try await h.sendUsage(callEvent(h, "call_started", "cus_x", "c1").json, key: "cus_x")
        try await h.waitFor(Self.grants, count: 1)
        try await h.stop()
        #expect(try h.reader().account("cus_x")?.held.description == "3")
        try await h.start(wallClockAheadSeconds: 91)  // the hold lapses 30 + 60 s after its start
        let expired = try await h.waitFor(Self.grants, where: { $0["decision"]?.text == "expired" })
        #expect(expired.first?["event_id"]?.text == "cus_x/c1/2" && expired.first?["held"]?.text == "0")
        try await waitUntil(timeout: 10, "the hold to be released") { try h.reader().account("cus_x")?.held == .zero }
        try await h.stop()
    }

    @Test(
        "bad call events: an unknown type and a missing call_id are dead-lettered naming the field; an unknown call's end does nothing"
    )
    func badInput() async throws {
        let h = try ServiceHarness(partitions: 1)
        try await h.start()
        try await prepare(h, ["cus_b"], credits: 100)
        let base = #""customer_id":"cus_b","occurred_at":"2026-11-24T10:15:00Z""#
        try await h.sendUsage(#"{"event_id":"b1","type":"call_paused","call_id":"c",\#(base)}"#, key: "cus_b")
        try await h.sendUsage(#"{"event_id":"b2","type":"call_started",\#(base)}"#, key: "cus_b")
        try await h.sendUsage(callEvent(h, "call_ended", "cus_b", "never").json, key: "cus_b")
        try await h.sendCommand(h.command("hold", "cus_b", "configure", #""call_hold_seconds":10"#), key: "cus_b")
        try await h.sendUsage(callEvent(h, "call_started", "cus_b", "ok").json, key: "cus_b")
        try await h.waitFor(Self.grants, count: 1)
        let letters = try await h.waitFor(
            "credits.dead-letter", count: 2, where: { $0["source_topic"]?.text == h.configuration.topics.usage })
        #expect(letters.map { $0["error"]?["code"]?.text ?? "" } == ["invalid_usage", "invalid_usage"])
        #expect(letters[0]["error"]?["message"]?.text?.hasPrefix("type:") == true)
        #expect(letters[1]["error"]?["message"]?.text == "call_id: is required")
        let results = try await h.waitFor("credits.command-results", count: 3)
        #expect(results.last?["reason"]?.text == "invalid_command")
        #expect(results.last?["message"]?.text?.hasPrefix("call_hold_seconds:") == true)
        #expect(decisions(h, "cus_b").map { $0["call_id"]?.text } == ["ok"], "no decision for the unknown call's end")
        try await h.stop()
    }
}
