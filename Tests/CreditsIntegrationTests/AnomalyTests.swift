import CreditsCore
import CreditsStore
import Foundation
import Testing

@Suite("credits.anomalies through real topics")
struct AnomalyTests {
    @Test("usage stamped over the past days builds the baseline; an hour far above it is reported once, and counted")
    func usageSpike() async throws {
        let h = try ServiceHarness { $0.ledger.spikeRatio = CreditAmount(credits: 4) }
        try await h.start()
        let c = "cus_spike"
        try await h.sendCommand(h.command("on", c, "enable_credits", #""settings":{"price_per_minute":"1"}"#), key: c)
        try await h.sendCommand(h.command("add", c, "add_credits", #""amount":"10000","note":"n""#), key: c)
        try await h.waitFor("credits.command-results", count: 2)
        let now = WallClock.now()
        func usage(_ id: String, minutes: Int, hoursAgo: Int64) -> String {
            #"{"event_id":"\#(id)","customer_id":"\#(c)","occurred_at":"\#(now.adding(seconds: -hoursAgo * 3600))","call_seconds":\#(minutes * 60)}"#
        }
        // 30 credits on each of the 5 days before: 150 over the week, 0.892857 an hour.
        for day in 1...5 { try await h.sendUsage(usage("past-\(day)", minutes: 30, hoursAgo: Int64(day) * 24 + 2), key: c) }
        try await h.waitFor("credits.balance-changed", count: 6)
        #expect((h.outputs["credits.anomalies"] ?? []).isEmpty)
        try await h.sendUsage(usage("now-1", minutes: 3, hoursAgo: 0), key: c)  // 3 credits: below min_credits (10)
        try await h.sendUsage(usage("now-2", minutes: 12, hoursAgo: 0), key: c)  // 15 > 4 x 0.89: a spike
        try await h.sendUsage(usage("now-3", minutes: 60, hoursAgo: 0), key: c)  // the same hour: no second report
        try await h.waitFor("credits.balance-changed", count: 9)
        let spikes = try await h.waitFor("credits.anomalies")
        await h.drainOutputs(milliseconds: 500)
        #expect((h.outputs["credits.anomalies"] ?? []).count == 1)
        #expect(spikes.first?["kind"]?.text == "usage_spike" && spikes.first?["used"]?.text == "15")
        #expect(spikes.first?["baseline_per_hour"]?.text == "0.892857")
        try await waitUntil(timeout: 10, "the anomaly metric") {
            h.server?.metrics.exposition().contains(#"credits_anomalies_total{kind="usage_spike"} 1"#) == true
        }
        try await h.stop()
    }
}
