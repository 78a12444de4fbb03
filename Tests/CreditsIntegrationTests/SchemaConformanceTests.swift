import CreditsCore
import Foundation
import Testing

@Suite("Messages and docs against docs/schemas (JSON Schema 2020-12, python jsonschema)")
struct SchemaConformanceTests {
    @Test("a run that makes every kind of output: each message matches its topic's schema")
    func everyOutputTopic() async throws {
        let h = try ServiceHarness()
        try await h.start()
        let c = "cus_schema"
        let settings =
            #""settings":{"price_per_minute":"60","grace_period_seconds":0,"low_credit_threshold":"50","low_credit_alerts":true}"#
        try await h.sendCommand(h.command("on", c, "enable_credits", settings), key: c)
        try await h.sendCommand(h.command("add", c, "add_credits", #""amount":"100","note":"Top-up""#), key: c)
        try await h.sendCommand(h.command("add", c, "add_credits", #""amount":"100","note":"Top-up""#), key: c)  // duplicate
        try await h.sendCommand(
            h.command("too-much", c, "deduct_credits", #""amount":"1000","reason":"refund","note":"n""#), key: c)
        try await h.waitFor("credits.command-results", count: 4)  // usage after the enable, not before
        try await h.sendUsage(h.usage("u1", c, #""call_seconds":3600,"ai_costs_usd":{"llm":"0.01"},"tool_calls":2"#), key: c)
        try await h.sendUsage(h.usage("u2", c, #""call_seconds":6000"#), key: c)  // below 0: depleted and blocked
        try await h.waitFor("credits.blocks", count: 2)
        try await h.sendCommand(h.command("buy", c, "quick_buy", #""package":"1000","payment_ref":"pay_1""#), key: c)
        try await h.sendUsage(h.usage("bad", c, #""call_seconds":-5"#), key: c)
        try await h.sendUsage("not json", key: c)
        try await h.sendCommand(#"{"command_id":"x","customer_id":"cus_schema","type":"configure"}"#, key: c)
        try await h.waitFor("credits.command-results", count: 6)
        try await h.waitFor("credits.blocks", count: 3)  // depleted, blocked, unblocked
        try await h.waitFor("credits.low-credit")
        try await h.waitFor("credits.dead-letter", count: 3)
        try await h.waitFor("credits.balance-changed", count: 4)
        try await h.waitFor("credits.accounts")  // sent once accounts.publish_interval_ms has passed
        let report = try await h.expectOutputsMatchSchemas()
        for schema in ["command-result", "balance-changed", "low-credit", "block-event", "dead-letter", "account-state"] {
            #expect(report.contains(try Regex("\\b\(schema) [1-9]")), "\(schema) validated: \(report)")
        }
        try await h.stop()
    }

    @Test("every example in docs/asyncapi.yaml matches the schema its message references")
    func specExamples() async throws {
        let result = try await SchemaValidator.validateSpecExamples()
        #expect(result.status == 0, "\(result.report)")
        for schema in [
            "usage-event", "admin-command", "command-result", "balance-changed", "low-credit", "block-event", "dead-letter",
            "top-up-request",
        ] {
            #expect(result.report.contains(try Regex("\\b\(schema) [1-9]")), "\(schema) has an example: \(result.report)")
        }
    }

    @Test("every JSON example in docs/contract.md matches the schema it names")
    func contractExamples() async throws {
        let result = try await SchemaValidator.validateMarkdownExamples("docs/contract.md")
        #expect(result.status == 0, "\(result.report)")
        #expect(result.report.contains("usage-event 1"), "\(result.report)")
    }

    @Test("the validator refuses a message that breaks its schema, naming the field")
    func refusesBrokenMessages() async throws {
        let entry =
            #"{"event_id":"c/1/balance-changed","customer_id":"c","entry_id":1,"type":"used","amount":"-1","balance":"9","note":"n","#
            + #""source":{"kind":"usage","id":"u"},"occurred_at":"2026-11-24T10:15:00.000Z","recorded_at":"2026-11-24T10:15:00.000Z","#
            + #""hash":"e8a3f21936eed72cf6f0e3273b0c97a182fb8f8dac2d1b2ce1aeb489e5a6c7a9"}"#
        #expect(try await SchemaValidator.validate([("balance-changed", "good", entry)]).status == 0)
        let broken = [
            ("amount", entry.replacingOccurrences(of: #""amount":"-1""#, with: #""amount":-1"#)),
            ("balance", entry.replacingOccurrences(of: #""balance":"9""#, with: #""balance":"9.50""#)),
            (
                "recorded_at",
                entry.replacingOccurrences(
                    of: #""recorded_at":"2026-11-24T10:15:00.000Z""#, with: #""recorded_at":"2026-11-24T10:15:00Z""#)
            ),
            ("hash", entry.replacingOccurrences(of: #""hash":"e8a3"#, with: #""hash":"E8A3"#)),
            ("type", entry.replacingOccurrences(of: #""type":"used""#, with: #""type":"spent""#)),
            ("(root)", entry.replacingOccurrences(of: #""note":"n","#, with: #""note":"n","extra":1,"#)),
        ]
        for (field, json) in broken {
            let result = try await SchemaValidator.validate([("balance-changed", field, json)])
            #expect(result.status == 1)
            #expect(result.report.contains("at \(field):"), "\(result.report)")
        }
    }
}
