import Testing

@testable import CreditsCore

@Suite("Pricing: each part rounded up to 0.000001 credit")
struct PricingTests {
    let cpu = CreditAmount(credits: 100)

    func charge(_ usage: UsageEvent, price: String? = "1", tool: String = "0.03", creditsPerUSD: String? = nil)
        -> Pricing.Charge?
    {
        let settings = CustomerSettings(
            pricePerMinute: price.map(credits), toolCallPrice: credits(tool),
            creditsPerUSD: creditsPerUSD.map(credits))
        return Pricing.charge(for: usage, settings: settings, defaultCreditsPerUSD: cpu)
    }

    @Test(
        "call part is prorated per second and rounded up",
        arguments: [
            (Int64(95), "1", "1.583334"), (60, "1", "1"), (1, "1", "0.016667"), (0, "1", "0"), (30, "0.5", "0.25"),
            (1, "0.000001", "0.000001"), (86_400, "1000000000000", "1440000000000000"), (7, "0.3", "0.035"),
            (1, "0.000059", "0.000001"), (61, "0.000060", "0.000061"),
        ])
    func callPart(seconds: Int64, price: String, expected: String) {
        let result = charge(Make.usage("e", seconds: seconds), price: price)
        // 86400 s at 1e12/min is 1.44e15 credits: beyond one input's range, so refused.
        if seconds == 86_400 {
            #expect(result == nil)
        } else {
            #expect(result?.call.description == expected)
        }
    }

    @Test(
        "AI part converts dollars exactly",
        arguments: [
            ("0.0224", "100", "2.24"), ("0.000000001", "100", "0.000001"), ("0.000000001", "1", "0.000001"),
            ("0.000000011", "100", "0.000002"), ("1", "0.5", "0.5"), ("0", "100", "0"),
        ])
    func aiPart(usd: String, perUSD: String, expected: String) {
        let result = charge(Make.usage("e", llm: usd), creditsPerUSD: perUSD)
        #expect(result?.ai.description == expected)
    }

    @Test("AI part sums llm, stt and tts before converting")
    func aiSum() throws {
        let usage = try usageEvent(
            #"""
            {"event_id":"e","customer_id":"c","occurred_at":"2026-11-24T10:15:00Z",
             "ai_costs_usd":{"llm":"0.0123","stt":"0.004","tts":"0.0061"}}
            """#)
        #expect(charge(usage)?.ai.description == "2.24")
    }

    @Test("tool part uses the customer's tool price")
    func toolPart() {
        #expect(charge(Make.usage("e", tools: 3))?.toolCalls.description == "0.09")
        #expect(charge(Make.usage("e", tools: 100_000), tool: "0.000001")?.toolCalls.description == "0.1")
        #expect(charge(Make.usage("e", tools: 5), tool: "0")?.toolCalls.description == "0")
    }

    @Test("the contract's example charges 1.583334 + 2.24 + 0.09")
    func contractExample() throws {
        let usage = try usageEvent(
            #"""
            { "event_id": "call-8f2c/1", "customer_id": "cus_123", "occurred_at": "2026-11-24T10:15:00Z",
              "call_id": "call-8f2c", "call_seconds": 95,
              "ai_costs_usd": { "llm": "0.0123", "stt": "0.004", "tts": "0.0061" }, "tool_calls": 3 }
            """#)
        let result = try #require(charge(usage))
        #expect(result.total.description == "3.913334")
        #expect(result.warnings.isEmpty)
    }

    @Test("no price per minute: call part 0 with a warning")
    func noPrice() {
        let result = charge(Make.usage("e", seconds: 120, tools: 1), price: nil)
        #expect(result?.call == .zero)
        #expect(result?.total.description == "0.03")
        #expect(result?.warnings == [Pricing.pricePerMinuteNotConfigured])
        #expect(charge(Make.usage("e", tools: 1), price: nil)?.warnings == [])
    }

    @Test("huge products use 128-bit arithmetic and are refused past 1e12 credits")
    func overflow() {
        let huge = UsageEvent(
            eventID: "e", customerID: "c", occurredAt: t0,
            aiCosts: .init(
                llm: try! USDAmount(parsing: "1000000000000"),
                stt: try! USDAmount(parsing: "1000000000000"),
                tts: try! USDAmount(parsing: "1000000000000")))
        #expect(charge(huge, creditsPerUSD: "1000000000000") == nil)
        #expect(charge(Make.usage("e", llm: "10000000000"), creditsPerUSD: "100")?.ai.description == "1000000000000")
        #expect(charge(Make.usage("e", llm: "10000000000.000000001"), creditsPerUSD: "100") == nil)
        #expect(charge(Make.usage("e", tools: 100_000), tool: "1000000000000") == nil)
    }
}
