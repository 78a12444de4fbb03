import Testing

@testable import CreditsCore

@Suite("Input validation: field-specific errors")
struct ValidationTests {
    static let base = #""event_id":"e1","customer_id":"cus_1","occurred_at":"2026-11-24T10:15:00Z""#

    @Test(
        "usage errors name the field",
        arguments: [
            (#"{"customer_id":"cus_1","occurred_at":"2026-11-24T10:15:00Z","tool_calls":1}"#, "event_id: is required"),
            (
                #"{"event_id":"","customer_id":"cus_1","occurred_at":"2026-11-24T10:15:00Z","tool_calls":1}"#,
                "event_id: must be 1-200 characters long"
            ),
            (
                #"{"event_id":7,"customer_id":"cus_1","occurred_at":"2026-11-24T10:15:00Z","tool_calls":1}"#,
                "event_id: must be a string, got a number"
            ),
            (
                #"{"event_id":"e","customer_id":"cus 1","occurred_at":"2026-11-24T10:15:00Z","tool_calls":1}"#,
                "customer_id: must be 1-128 characters of [A-Za-z0-9._:@-]"
            ),
            (
                #"{"event_id":"e","customer_id":"c","occurred_at":"yesterday","tool_calls":1}"#,
                "occurred_at: must be an RFC 3339 timestamp such as 2026-11-24T10:15:00Z"
            ),
            ("{\(base)}", "at least one of call_seconds, ai_costs_usd, tool_calls is required"),
            ("{\(base),\"call_seconds\":86401}", "call_seconds: must be an integer from 0 to 86400"),
            ("{\(base),\"call_seconds\":-1}", "call_seconds: must be an integer from 0 to 86400"),
            ("{\(base),\"call_seconds\":1.5}", "call_seconds: must be an integer from 0 to 86400"),
            ("{\(base),\"call_seconds\":\"95\"}", "call_seconds: must be an integer, got a string"),
            ("{\(base),\"tool_calls\":100001}", "tool_calls: must be an integer from 0 to 100000"),
            ("{\(base),\"ai_costs_usd\":{}}", "ai_costs_usd: must contain at least one of llm, stt, tts"),
            ("{\(base),\"ai_costs_usd\":[1]}", "ai_costs_usd: must be an object, got an array"),
            ("{\(base),\"ai_costs_usd\":{\"llm\":\"-1\"}}", "ai_costs_usd.llm: must not be negative"),
            ("{\(base),\"ai_costs_usd\":{\"stt\":\"0.0000000001\"}}", "ai_costs_usd.stt: has more than 9 decimal places"),
            ("{\(base),\"ai_costs_usd\":{\"tts\":true}}", "ai_costs_usd.tts: must be a decimal string or number, got a boolean"),
            ("{\(base),\"call_id\":\"\",\"tool_calls\":1}", "call_id: must be 1-200 characters long"),
        ])
    func usage(json: String, message: String) {
        #expect(usageError(json) == InputError(.invalidUsage, message))
    }

    @Test("valid usage: integers written as 95.0 and amounts as numbers are accepted")
    func lenientNumbers() throws {
        let event = try usageEvent("{\(Self.base),\"call_seconds\":95.0,\"ai_costs_usd\":{\"llm\":0.0123},\"extra\":1}")
        #expect(event.callSeconds == 95)
        #expect(event.aiCosts?.llm?.description == "0.0123")
    }

    @Test(
        "message-level errors",
        arguments: [
            ("not json", ReasonCode.invalidJSON), ("[1,2]", .invalidJSON), ("\"text\"", .invalidJSON), ("", .invalidJSON),
        ])
    func messageLevel(payload: String, code: ReasonCode) {
        #expect(usageError(payload)?.code == code)
    }

    @Test("payloads over 64 KiB are too_large")
    func tooLarge() {
        let payload = "{\(Self.base),\"tool_calls\":1,\"pad\":\"\(String(repeating: "x", count: 65_536))\"}"
        #expect(usageError(payload)?.code == .tooLarge)
    }

    @Test("a key must equal customer_id")
    func keyMismatch() {
        let payload = "{\(Self.base),\"tool_calls\":1}"
        #expect(
            usageError(payload, key: "cus_2")
                == InputError(
                    .keyMismatch,
                    "message key \"cus_2\" does not match customer_id \"cus_1\""))
        #expect(usageError(payload, key: "cus_1") == nil)
        #expect(usageError(payload, key: nil) == nil)
    }

    static let cmd = #""command_id":"c1","customer_id":"cus_1","issued_at":"2026-11-24T10:15:00Z","actor":"ops""#

    @Test(
        "command errors name the field",
        arguments: [
            (
                #"{"customer_id":"cus_1","issued_at":"2026-11-24T10:15:00Z","actor":"ops","type":"disable_credits"}"#,
                "command_id: is required"
            ),
            (
                #"{"command_id":"c","customer_id":"cus_1","issued_at":"2026-11-24T10:15:00Z","type":"disable_credits"}"#,
                "actor: is required"
            ),
            ("{\(cmd)}", "type: is required"),
            (
                "{\(cmd),\"type\":\"refund\"}",
                "type: unknown command type \"refund\"; expected enable_credits, "
                    + "disable_credits, configure, add_credits, quick_buy or deduct_credits"
            ),
            ("{\(cmd),\"type\":\"add_credits\",\"note\":\"n\"}", "amount: is required"),
            ("{\(cmd),\"type\":\"add_credits\",\"amount\":\"0\",\"note\":\"n\"}", "amount: must be greater than 0"),
            ("{\(cmd),\"type\":\"add_credits\",\"amount\":\"-5\",\"note\":\"n\"}", "amount: must be greater than 0"),
            (
                "{\(cmd),\"type\":\"add_credits\",\"amount\":\"1.0000001\",\"note\":\"n\"}",
                "amount: has more than 6 decimal places"
            ),
            (
                "{\(cmd),\"type\":\"add_credits\",\"amount\":\"1e3\",\"note\":\"n\"}",
                "amount: must be a decimal number such as \"12.5\""
            ),
            (
                "{\(cmd),\"type\":\"add_credits\",\"amount\":\"2000000000000\",\"note\":\"n\"}",
                "amount: is out of range (absolute value at most 1e12)"
            ),
            ("{\(cmd),\"type\":\"add_credits\",\"amount\":\"5\"}", "note: is required"),
            (
                "{\(cmd),\"type\":\"add_credits\",\"amount\":\"5\",\"note\":\"\(String(repeating: "n", count: 501))\"}",
                "note: must be 1-500 characters long"
            ),
            ("{\(cmd),\"type\":\"quick_buy\",\"package\":\"1000\"}", "payment_ref: is required"),
            ("{\(cmd),\"type\":\"quick_buy\",\"payment_ref\":\"p\"}", "package: is required (or give amount)"),
            (
                "{\(cmd),\"type\":\"quick_buy\",\"payment_ref\":\"p\",\"package\":\"1000\",\"amount\":\"5\"}",
                "package: give either package or amount, not both"
            ),
            ("{\(cmd),\"type\":\"deduct_credits\",\"amount\":\"5\",\"note\":\"n\"}", "reason: is required"),
            (
                "{\(cmd),\"type\":\"deduct_credits\",\"amount\":\"5\",\"note\":\"n\",\"reason\":\"oops\"}",
                "reason: must be one of refund, correction, manual"
            ),
            ("{\(cmd),\"type\":\"deduct_credits\",\"amount\":\"5\",\"reason\":\"refund\"}", "note: is required"),
            (
                "{\(cmd),\"type\":\"deduct_credits\",\"amount\":\"5\",\"reason\":\"refund\",\"note\":\"n\",\"allow_negative\":1}",
                "allow_negative: must be true or false, got a number"
            ),
            (
                "{\(cmd),\"type\":\"configure\"}",
                "configure needs at least one of price_per_minute, grace_period_seconds, "
                    + "low_credit_threshold, low_credit_alerts, tool_call_price, credits_per_usd, call_hold_seconds, "
                    + "call_hold_rate, auto_top_up_below, auto_top_up_package"
            ),
            (
                "{\(cmd),\"type\":\"configure\",\"grace_period_seconds\":604801}",
                "grace_period_seconds: must be an integer from 0 to 604800"
            ),
            ("{\(cmd),\"type\":\"configure\",\"price_per_minute\":\"-1\"}", "price_per_minute: must not be negative"),
            ("{\(cmd),\"type\":\"configure\",\"low_credit_threshold\":\"-5\"}", "low_credit_threshold: must not be negative"),
            (
                "{\(cmd),\"type\":\"configure\",\"low_credit_alerts\":\"yes\"}",
                "low_credit_alerts: must be true or false, got a string"
            ),
            ("{\(cmd),\"type\":\"configure\",\"tool_call_price\":\"-0.01\"}", "tool_call_price: must not be negative"),
            (
                "{\(cmd),\"type\":\"enable_credits\",\"settings\":{\"grace_period_seconds\":-1}}",
                "settings.grace_period_seconds: must be an integer from 0 to 604800"
            ),
            ("{\(cmd),\"type\":\"enable_credits\",\"settings\":5}", "settings: must be an object, got a number"),
        ])
    func command(json: String, message: String) {
        #expect(commandError(json) == InputError(.invalidCommand, message))
    }

    @Test("an invalid command still names its identity for a rejected result")
    func identity() {
        let decoded = InputDecoder.decode(.command, key: nil, payload: Array("{\(Self.cmd),\"type\":\"nope\"}".utf8))
        guard case .invalid(_, let identity) = decoded else {
            Issue.record("expected invalid")
            return
        }
        #expect(identity == CommandIdentity(commandID: "c1", customerID: "cus_1"))
        let unreadable = InputDecoder.decode(.command, key: nil, payload: Array(#"{"type":"x"}"#.utf8))
        guard case .invalid(_, let none) = unreadable else {
            Issue.record("expected invalid")
            return
        }
        #expect(none == nil)
    }

    @Test("every command type decodes")
    func commands() throws {
        #expect(
            try adminCommand("{\(Self.cmd),\"type\":\"enable_credits\",\"settings\":{\"price_per_minute\":\"2\"}}").action
                == .enableCredits(SettingsChange(pricePerMinute: .some(credits("2")))))
        #expect(try adminCommand("{\(Self.cmd),\"type\":\"disable_credits\"}").action == .disableCredits)
        #expect(
            try adminCommand("{\(Self.cmd),\"type\":\"configure\",\"low_credit_threshold\":null}").action
                == .configure(SettingsChange(lowCreditThreshold: .some(nil))))
        #expect(
            try adminCommand("{\(Self.cmd),\"type\":\"add_credits\",\"amount\":1000,\"note\":\"Monthly\"}").action
                == .addCredits(amount: credits("1000"), note: "Monthly"))
        #expect(
            try adminCommand("{\(Self.cmd),\"type\":\"quick_buy\",\"package\":5000,\"payment_ref\":\"p\"}").action
                == .quickBuy(.package("5000"), paymentRef: "p"))
        #expect(
            try adminCommand(
                "{\(Self.cmd),\"type\":\"deduct_credits\",\"amount\":\"2.5\",\"reason\":\"refund\",\"note\":\"n\",\"allow_negative\":true}"
            ).action
                == .deductCredits(amount: credits("2.5"), reason: .refund, note: "n", allowNegative: true))
    }

    @Test("canonical forms ignore timestamps and see every other field")
    func canonicalForms() {
        var a = Make.usage("e", seconds: 10)
        var b = a
        b.occurredAt = t0.adding(seconds: 5)
        #expect(a.canonicalForm == b.canonicalForm)
        b.callSeconds = 11
        #expect(a.canonicalForm != b.canonicalForm)
        a.callID = nil
        #expect(a.canonicalForm != Make.usage("e", seconds: 10).canonicalForm)
        let c1 = Make.command("c", .addCredits(amount: credits("5"), note: "n"))
        var c2 = c1
        c2.issuedAt = t0.adding(seconds: 60)
        #expect(c1.canonicalForm == c2.canonicalForm)
        c2.action = .addCredits(amount: credits("5"), note: "m")
        #expect(c1.canonicalForm != c2.canonicalForm)
    }

    @Test("fields that the old joined-with-0x1F fingerprint confused have different canonical forms")
    func canonicalFormsHaveNoSeparatorCollisions() {
        var shifted = Make.command("c", .addCredits(amount: credits("5"), note: "n"))
        shifted.actor = "a\u{1F}add:5"
        var plain = Make.command("c", .addCredits(amount: credits("5"), note: "add:5\u{1F}n"))
        plain.actor = "a"
        #expect(shifted.legacyFingerprint == plain.legacyFingerprint, "the collision the old scheme had")
        #expect(shifted.canonicalForm != plain.canonicalForm)

        var dash = Make.usage("e", seconds: 10)
        dash.callID = "-"
        var none = dash
        none.callID = nil
        #expect(dash.legacyFingerprint == none.legacyFingerprint, "the collision the old scheme had")
        #expect(dash.canonicalForm != none.canonicalForm)

        let empty = Make.command("c", .configure(SettingsChange(lowCreditThreshold: .some(nil))))
        let unset = Make.command("c", .configure(SettingsChange(lowCreditAlerts: false)))
        #expect(empty.canonicalForm != unset.canonicalForm)
        let cleared = Make.command("c", .configure(SettingsChange(pricePerMinute: .some(nil))))
        let zero = Make.command("c", .configure(SettingsChange(pricePerMinute: .some(.zero))))
        #expect(cleared.canonicalForm != zero.canonicalForm)
    }
}
