import CreditsCore
import CreditsStore
import CreditsTestSupport
import Foundation
import Testing

/// Expiring credits and automatic top-up through Kafka, with the service's own clock.
@Suite("Expiring credits and automatic top-up through Kafka", .serialized)
struct GrantIntegrationTests {
    static let changes = "credits.balance-changed"
    static let requests = "credits.top-up-requests"

    @Test("credits expire at expires_at while the service runs, and after a restart past their expiry")
    func expiryThroughKafka() async throws {
        let h = try ServiceHarness(partitions: 2)
        try await h.start()
        let soon = WallClock.now().adding(seconds: 5)
        let later = WallClock.now().adding(seconds: 3_600)
        try await h.sendAll(
            h.configuration.topics.commands,
            [
                (h.command("en", "cus_e", "enable_credits", #""settings":{"price_per_minute":"60"}"#), "cus_e"),
                (h.command("a1", "cus_e", "add_credits", #""amount":"100","note":"Forever""#), "cus_e"),
                (h.command("a2", "cus_e", "add_credits", #""amount":"10","note":"Trial","expires_at":"\#(soon)""#), "cus_e"),
                (h.command("a3", "cus_e", "add_credits", #""amount":"20","note":"Promo","expires_at":"\#(later)""#), "cus_e"),
            ])
        try await h.waitFor("credits.command-results", count: 4)  // the two input topics are applied independently
        try await h.sendUsage(h.usage("u1", "cus_e", #""call_seconds":4"#), key: "cus_e")  // from the trial first
        let first = try await h.waitFor(Self.changes, timeout: 20, where: { $0["type"]?.text == "expired" })
        #expect(first.first?["amount"]?.text == "-6" && first.first?["balance"]?.text == "120")
        #expect(first.first?["source"]?["kind"]?.text == "expiry" && first.first?["source"]?["id"]?.text == "2")
        try await h.stop()
        #expect(try h.reader().account("cus_e")?.grants.nextExpiry?.at == later)
        try await h.start(wallClockAheadSeconds: 3_601)
        let second = try await h.waitFor(Self.changes, count: 2, where: { $0["type"]?.text == "expired" })
        #expect(second.last?["amount"]?.text == "-20" && second.last?["balance"]?.text == "100")
        try await waitUntil(timeout: 10, "the account to show no expiring credits") {
            try h.reader().account("cus_e")?.grants.nextExpiry == nil
        }
        #expect(try h.reader().verify().isClean)
        try await h.stop()
    }

    @Test("automatic top-up: one request per crossing, none further below, the payment applied once, then re-armed")
    func topUpThroughKafka() async throws {
        let h = try ServiceHarness(partitions: 2)
        try await h.start()
        let settings = #""settings":{"price_per_minute":"60","auto_top_up_below":"50","auto_top_up_package":"1000"}"#
        try await h.sendAll(
            h.configuration.topics.commands,
            [
                (h.command("en", "cus_t", "enable_credits", settings), "cus_t"),
                (h.command("a1", "cus_t", "add_credits", #""amount":"100","note":"start""#), "cus_t"),
            ])
        try await h.waitFor("credits.command-results", count: 2)
        for n in 1...3 { try await h.sendUsage(h.usage("u\(n)", "cus_t", #""call_seconds":30"#), key: "cus_t") }
        try await h.waitFor(Self.changes, count: 4)  // 70, 40 (a request), 10 (none)
        let requests = try await h.waitForDistinct(Self.requests, count: 1, timeout: 10)
        let request = try #require(h.messages(Self.requests, customer: "cus_t").first)
        #expect(requests == ["cus_t/3/top-up"] && request["request_id"]?.text == "cus_t/3/top-up")
        #expect(request["package"]?.text == "1000" && request["amount"]?.text == "1000" && request["balance"]?.text == "40")
        // The payment side pays the request twice (a retry): one Quick Buy.
        let pay = h.command("cus_t/3/top-up", "cus_t", "quick_buy", #""package":"1000","payment_ref":"card-1""#)
        try await h.sendAll(h.configuration.topics.commands, [(pay, "cus_t"), (pay, "cus_t")])
        let results = try await h.waitFor(
            "credits.command-results", count: 2, where: { $0["command_id"]?.text == "cus_t/3/top-up" })
        #expect(Set(results.compactMap { $0["status"]?.text }) == ["applied", "duplicate"])
        try await waitUntil(timeout: 10, "the payment to be applied") {
            try h.reader().account("cus_t")?.balance.description == "1010"
        }
        try await h.sendUsage(h.usage("u4", "cus_t", #""call_seconds":970"#), key: "cus_t")  // 40: a new crossing
        let again = try await h.waitForDistinct(Self.requests, count: 2, timeout: 20)
        #expect(again == ["cus_t/3/top-up", "cus_t/6/top-up"])
        try await h.stop()
    }
}
