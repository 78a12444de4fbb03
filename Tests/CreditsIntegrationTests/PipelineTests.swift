import CreditsCore
import CreditsKafka
import CreditsService
import CreditsStore
import CreditsTestSupport
import Foundation
import Testing

@Suite("Pipeline through real topics on the embedded broker", .serialized)
struct PipelineTests {
    @Test("usage is priced exactly; entries, results and balance-changed events come out")
    func pricing() async throws {
        let h = try ServiceHarness()
        try await h.start()
        try await h.sendCommand(h.command("en", "cus_1", "enable_credits", #""settings":{"price_per_minute":"1"}"#), key: "cus_1")
        try await h.sendCommand(
            h.command("add", "cus_1", "add_credits", #""amount":"1000","note":"Monthly package - 1000 credits""#),
            key: "cus_1")
        try await h.waitFor("credits.command-results", count: 2)
        try await h.sendUsage(
            h.usage(
                "call-8f2c/1", "cus_1",
                #""call_id":"call-8f2c","call_seconds":95,"ai_costs_usd":{"llm":"0.0123","stt":"0.004","tts":"0.0061"},"tool_calls":3"#
            ),
            key: "cus_1")
        let changes = try await h.waitFor("credits.balance-changed", count: 2)
        #expect(changes.map { $0["amount"]?.text } == ["1000", "-3.913334"])
        #expect(changes.map { $0["balance"]?.text } == ["1000", "996.086666"])
        #expect(changes.last?["breakdown"]?["call"]?.text == "1.583334")
        #expect(changes.last?["breakdown"]?["ai"]?.text == "2.24")
        #expect(changes.last?["breakdown"]?["tool_calls"]?.text == "0.09")
        #expect(changes.last?["event_id"]?.text == "cus_1/2/balance-changed")
        let results = try await h.waitFor("credits.command-results", count: 2)
        #expect(results.map { $0["status"]?.text } == ["applied", "applied"])
        try await h.stop()
    }

    @Test("a repeated event is applied once, even across a restart; a changed repeat is dead-lettered")
    func duplicatesAcrossRestart() async throws {
        let h = try ServiceHarness()
        try await h.start()
        try await h.sendCommand(
            h.command("en", "cus_d", "enable_credits", #""settings":{"price_per_minute":"60"}"#), key: "cus_d")
        // Usage and commands are separate topics: wait until credits are on before sending usage.
        try await h.waitFor("credits.command-results")
        let call = h.usage("u-1", "cus_d", #""call_seconds":10"#)
        try await h.sendUsage(call, key: "cus_d")
        try await h.sendUsage(call, key: "cus_d")
        try await h.waitFor("credits.balance-changed", count: 1)
        try await h.stop()
        try await h.start()
        try await h.sendUsage(call, key: "cus_d")
        try await h.sendUsage(h.usage("u-1", "cus_d", #""call_seconds":11"#), key: "cus_d")
        try await h.sendCommand(
            h.command("en", "cus_d", "enable_credits", #""settings":{"price_per_minute":"60"}"#), key: "cus_d")
        let letters = try await h.waitFor("credits.dead-letter")
        #expect(letters.first?["error"]?["code"]?.text == "conflicting_duplicate")
        let results = try await h.waitFor("credits.command-results", count: 2)
        #expect(results.last?["status"]?.text == "duplicate")
        #expect(results.last?["original_status"]?.text == "applied")
        await h.drainOutputs(milliseconds: 500)
        #expect(h.messages("credits.balance-changed", customer: "cus_d").count == 1)
        #expect(try h.reader().account("cus_d")?.balance.description == "-10")
        try await h.stop()
    }

    @Test("every dead-letter code, with the original payload; an invalid command also gets a result")
    func deadLetters() async throws {
        let h = try ServiceHarness()
        try await h.start()
        try await h.sendUsage("not json", key: "cus_x")
        try await h.sendUsage(h.usage("e1", "cus_x", #""call_seconds":"95""#), key: "cus_x")
        try await h.sendUsage(h.usage("e2", "cus_x", #""tool_calls":1"#), key: "cus_other")
        try await h.sendUsage(
            h.usage("e3", "cus_x", #""tool_calls":1,"pad":"\#(String(repeating: "x", count: 70_000))""#), key: "cus_x")
        try await h.sendCommand(h.command("c1", "cus_x", "add_credits", #""amount":"0.0000001","note":"n""#), key: "cus_x")
        try await h.sendCommand(
            h.command("c2", "cus_x", "enable_credits", #""settings":{"price_per_minute":"1000000000000"}"#), key: "cus_x")
        try await h.waitFor("credits.command-results", count: 2)
        try await h.sendUsage(h.usage("e4", "cus_x", #""call_seconds":86400"#), key: "cus_x")
        try await h.sendUsage(h.usage("e5", "cus_x", #""tool_calls":1"#), key: "cus_x")
        try await h.sendUsage(h.usage("e5", "cus_x", #""tool_calls":2"#), key: "cus_x")
        let letters = try await h.waitFor("credits.dead-letter", count: 7)
        let codes = letters.compactMap { $0["error"]?["code"]?.text }
        #expect(
            Set(codes) == [
                "invalid_json", "invalid_usage", "key_mismatch", "too_large", "invalid_command",
                "amount_out_of_range", "conflicting_duplicate",
            ])
        let invalid = try #require(letters.first { $0["error"]?["code"]?.text == "invalid_usage" })
        #expect(invalid["error"]?["message"]?.text == "call_seconds: must be an integer, got a string")
        #expect(invalid["source_topic"]?.text == "credits.usage")
        #expect(invalid["payload"]?.text == h.usage("e1", "cus_x", #""call_seconds":"95""#))
        let rejected = try await h.waitFor("credits.command-results") { $0["command_id"]?.text == "c1" }
        #expect(rejected.first?["status"]?.text == "rejected")
        #expect(rejected.first?["reason"]?.text == "invalid_command")
        #expect(rejected.first?["message"]?.text == "amount: has more than 6 decimal places")
        // The service kept going: the valid event after the bad ones was applied.
        #expect(try h.reader().account("cus_x")?.lastEntryID == 1)
        try await h.stop()
    }

    @Test("command results: applied, rejected with the contract's reasons, duplicate")
    func commandResults() async throws {
        let h = try ServiceHarness()
        try await h.start()
        try await h.sendCommand(h.command("a0", "cus_c", "add_credits", #""amount":"5","note":"n""#), key: "cus_c")
        try await h.sendCommand(h.command("a1", "cus_c", "enable_credits"), key: "cus_c")
        try await h.sendCommand(h.command("a2", "cus_c", "quick_buy", #""package":"750","payment_ref":"p1""#), key: "cus_c")
        try await h.sendCommand(h.command("a3", "cus_c", "quick_buy", #""package":"5000","payment_ref":"p2""#), key: "cus_c")
        try await h.sendCommand(
            h.command("a4", "cus_c", "deduct_credits", #""amount":"6000","reason":"refund","note":"n""#), key: "cus_c")
        try await h.sendCommand(h.command("a3", "cus_c", "quick_buy", #""package":"5000","payment_ref":"p2""#), key: "cus_c")
        let results = try await h.waitFor("credits.command-results", count: 6)
        #expect(results.map { $0["status"]?.text } == ["rejected", "applied", "rejected", "applied", "rejected", "duplicate"])
        #expect(
            results.map { $0["reason"]?.text } == [
                "credits_not_enabled", nil, "unknown_package", nil,
                "insufficient_balance", nil,
            ])
        #expect(results[3]["balance"]?.text == "5000")
        #expect(results[5]["entry_id"]?.text == "1")
        try await h.stop()
    }

    @Test("low-credit alert once per crossing; grace → blocked → unblocked with a short grace period")
    func lowCreditAndBlocking() async throws {
        let h = try ServiceHarness()
        try await h.start()
        try await h.sendCommand(
            h.command(
                "e", "cus_b", "enable_credits",
                #""settings":{"price_per_minute":"60","grace_period_seconds":2,"low_credit_threshold":"5"}"#), key: "cus_b")
        try await h.sendCommand(h.command("a", "cus_b", "add_credits", #""amount":"10","note":"n""#), key: "cus_b")
        try await h.sendCommand(h.command("on", "cus_b", "configure", #""low_credit_alerts":true"#), key: "cus_b")
        try await h.waitFor("credits.command-results", count: 3)
        try await h.sendUsage(h.usage("u1", "cus_b", #""call_seconds":6"#), key: "cus_b")  // 4: alert
        try await h.sendUsage(h.usage("u2", "cus_b", #""call_seconds":1"#), key: "cus_b")  // 3: no second alert
        try await h.sendUsage(h.usage("u3", "cus_b", #""call_seconds":5"#), key: "cus_b")  // -2: depleted
        let alerts = try await h.waitFor("credits.low-credit")
        #expect(alerts.first?["balance"]?.text == "4")
        #expect(alerts.first?["entry_id"]?.text == "2")
        // Enabling at 0 starts a grace period that the first top-up ends; then the usage runs out.
        let blocks = try await h.waitFor("credits.blocks", count: 4, timeout: 20)
        #expect(blocks.map { $0["type"]?.text } == ["depleted", "unblocked", "depleted", "blocked"])
        #expect(blocks[0]["event_id"]?.text == "cus_b/command:e/depleted")
        #expect(blocks[2]["block_at"] != nil)
        #expect(h.messages("credits.low-credit", customer: "cus_b").count == 1)
        try await h.sendCommand(h.command("top", "cus_b", "quick_buy", #""package":"1000","payment_ref":"p""#), key: "cus_b")
        let unblocked = try await h.waitFor("credits.blocks", count: 5)
        #expect(unblocked.last?["type"]?.text == "unblocked")
        #expect(unblocked.last?["previous_state"]?.text == "blocked")
        #expect(try h.reader().account("cus_b")?.blockState == .active)
        try await h.stop()
    }

    @Test("a restart in the middle of a stream ends with exact balances and gapless entry ids")
    func restartMidStream() async throws {
        let h = try ServiceHarness(partitions: 3)
        try await h.start()
        let customers = (0..<5).map { "cus_r\($0)" }
        for customer in customers {
            try await h.sendCommand(
                h.command(
                    "en-\(customer)", customer, "enable_credits",
                    #""settings":{"price_per_minute":"0.6"}"#), key: customer)
        }
        try await h.waitFor("credits.command-results", count: 5)
        let total = 600
        for index in 0..<total {
            let customer = customers[index % customers.count]
            try await h.sendUsage(h.usage("ev-\(index)", customer, #""call_seconds":\#(index % 90 + 1)"#), key: customer)
            if index == total / 2 {
                try await h.stop()
                try await h.start()
            }
        }
        // 0.6 credits a minute = 0.01 credit (10 000 micro-credits) a second.
        try await h.expectExactBalances(customers, total: total, timeout: 60) { Int64($0 % 90 + 1) * 10_000 }
        let reader = try h.reader()
        for customer in customers {
            let history = try reader.entries(customer, limit: 1000).entries
            #expect(history.map(\.entryID) == Array((1...Int64(total / customers.count)).reversed()))
        }
        try await h.stop()
    }

    @Test("a partition the group has consumed but this store has not is paused, and readiness says why")
    func orphanPartitionPaused() async throws {
        let h = try ServiceHarness(partitions: 1)
        // Another instance consumed and committed offset 1 for this group.
        try await commitGroupOffset(h, 1)
        try await h.start()
        try await waitUntil(timeout: 10, "the new partitions to be checked") {
            h.server?.status.snapshot.pausedPartitions.keys.sorted() == ["credits.usage[0]"]
        }
        let snapshot = try #require(h.server?.status.snapshot)
        #expect(snapshot.pausedPartitions["credits.usage[0]"]?.contains("this store has no state") == true)
        try await h.sendUsage(h.usage("y", "cus_o", #""tool_calls":1"#), key: "cus_o")
        try await Task.sleep(for: .seconds(1))
        #expect(try h.reader().account("cus_o") == nil, "nothing applied from the paused partition")
        try await h.stop()
    }

    @Test("fails closed: when the group's committed offset cannot be read, a new partition stays paused until it can")
    func unreadableGroupOffsetFailsClosed() async throws {
        let h = try ServiceHarness(partitions: 1)
        try await commitGroupOffset(h, 1)
        // The coordinator answers the next OffsetFetch requests with GROUP_AUTHORIZATION_FAILED (30).
        h.broker.failNext(.offsetFetch, with: [30, 30, 30])
        try await h.start()
        let first = try #require(h.server?.status.snapshot.pausedPartitions["credits.usage[0]"])
        #expect(first.contains("checking") || first.contains("cannot read the group's committed offset"), "\(first)")
        try await h.sendUsage(h.usage("y", "cus_o", #""tool_calls":1"#), key: "cus_o")
        // Once the offset can be read again, the partition is known to belong to another store.
        try await waitUntil(timeout: 20, "the check to succeed") {
            h.server?.status.snapshot.pausedPartitions["credits.usage[0]"]?.contains("this store has no state for the partition;")
                == true
        }
        #expect(try h.reader().account("cus_o") == nil, "nothing applied from the partition at any time")
        try await h.stop()
    }

    /// Another instance of the group consumed `credits.usage[0]` and committed `offset`.
    func commitGroupOffset(_ h: ServiceHarness, _ offset: Int64) async throws {
        try await h.sendUsage(h.usage("x", "cus_o", #""tool_calls":1"#), key: "cus_o")
        final class Starter: KafkaRebalanceListener {
            func partitionsAssigned(_ partitions: [TopicPartition])
                -> (start: [TopicPartition: Int64], paused: Set<TopicPartition>)
            { ([:], []) }
            func partitionsRevoked(_ partitions: [TopicPartition]) {}
        }
        let starter = Starter()
        let other = try KafkaConsumer(
            settings: h.settings, groupID: h.configuration.groupID,
            topics: [h.configuration.topics.usage], listener: starter, logger: h.logger)
        var seen: [KafkaMessage] = []
        let deadline = Date().addingTimeInterval(20)
        while seen.isEmpty && Date() < deadline { seen = other.poll(maxMessages: 10, timeoutMilliseconds: 100) }
        try other.commit([TopicPartition(topic: h.configuration.topics.usage, partition: 0): offset])
        _ = other.poll(maxMessages: 1, timeoutMilliseconds: 300)
        other.close(timeoutMilliseconds: 10_000)
    }
}
