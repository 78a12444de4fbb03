import CreditsCore
import CreditsStore
import CreditsTestSupport
import Foundation
import Testing

@Suite("credits.accounts: the table rebuilt from the topic alone equals the store")
struct AccountsTableTests {
    @Test("a random stream of commands and usage with two restarts: every customer's newest state on the topic is the store's")
    func rebuildFromTopic() async throws {
        let h = try ServiceHarness(partitions: 4)
        try await h.start()
        var rng = SeededGenerator(state: 11)
        let customers = (0..<24).map { "cus_t\($0)" }
        try await h.sendAll(
            h.configuration.topics.commands,
            customers.map { c in
                (
                    h.command(
                        "on-\(c)", c, "enable_credits",
                        #""settings":{"price_per_minute":"3","grace_period_seconds":1,"low_credit_threshold":"20","low_credit_alerts":true}"#
                    ),
                    c
                )
            })
        try await h.waitFor("credits.command-results", count: customers.count)
        var commands = customers.count
        for round in 0..<6 {
            var usage: [(json: String, key: String)] = []
            var admin: [(json: String, key: String)] = []
            for index in 0..<60 {
                let c = customers.randomElement(using: &rng)!
                switch Int.random(in: 0..<10, using: &rng) {
                case 0, 1:
                    admin.append(
                        (
                            h.command(
                                "add-\(round)-\(index)", c, "add_credits",
                                #""amount":"\#(Int.random(in: 1...90, using: &rng))","note":"n""#), c
                        ))
                case 2:
                    admin.append(
                        (
                            h.command(
                                "ded-\(round)-\(index)", c, "deduct_credits",
                                #""amount":"7.5","reason":"manual","note":"n","allow_negative":true"#), c
                        ))
                case 3:
                    admin.append(
                        (
                            h.command(
                                "cfg-\(round)-\(index)", c, "configure",
                                #""price_per_minute":"\#(Int.random(in: 1...9, using: &rng))""#), c
                        ))
                case 4 where round % 2 == 1:
                    admin.append(
                        (h.command("off-\(round)-\(index)", c, index % 2 == 0 ? "disable_credits" : "enable_credits"), c))
                default:
                    usage.append(
                        (
                            h.usage(
                                "u-\(round)-\(index)", c,
                                #""call_seconds":\#(Int.random(in: 0...900, using: &rng)),"tool_calls":1"#), c
                        ))
                }
            }
            commands += admin.count
            try await h.sendAll(h.configuration.topics.commands, admin)
            try await h.sendAll(h.configuration.topics.usage, usage)
            if round == 1 || round == 4 {
                try await h.stop()
                try await h.start()
            }
        }
        try await h.waitFor("credits.command-results", count: commands, timeout: 60)
        try await Task.sleep(for: .seconds(2))  // grace periods of 1 s end; their states follow
        await h.drainOutputs(milliseconds: 1500)

        // The table, from the topic alone: per customer, the message with the highest version.
        var table: [String: [String: JSONValue]] = [:]
        for state in h.outputs["credits.accounts"] ?? [] {
            guard let id = state["customer_id"]?.text, let version = state["version"]?.text.flatMap(Int64.init) else { continue }
            if let kept = table[id]?["version"]?.text.flatMap(Int64.init), kept >= version { continue }
            table[id] = state
        }
        let reader = try h.reader()
        #expect(table.count == customers.count)
        // Coalesced (accounts.publish_interval_ms): fewer messages than changes, none lost.
        let changes = try customers.reduce(Int64(0)) { $0 + (try reader.account($1)?.version ?? 0) }
        #expect(Int64(h.outputs["credits.accounts"]?.count ?? 0) < changes, "\(changes) changes")
        for c in customers {
            let account = try #require(try reader.account(c))
            let row = try #require(table[c], "\(c) is in the table")
            #expect(row["version"]?.text == "\(account.version)", "\(c) version")
            #expect(row["balance"]?.text == account.balance.description, "\(c) balance")
            #expect(row["state"]?.text == account.blockState.name, "\(c) state")
            #expect(row["credits_enabled"] == .bool(account.creditsEnabled), "\(c) enabled")
            #expect(row["last_entry_id"]?.text == "\(account.lastEntryID)", "\(c) last entry")
            #expect(row["price_per_minute"]?.text == account.settings.pricePerMinute?.description, "\(c) price")
            if let price = account.settings.pricePerMinute, account.balance.micros > 0 {
                #expect(row["minutes_left"]?.text == "\(account.balance.micros / price.micros)", "\(c) minutes left")
            }
        }
        try await h.stop()
    }
}
