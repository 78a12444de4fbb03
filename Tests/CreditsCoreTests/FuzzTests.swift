import CreditsTestSupport
import Testing

@testable import CreditsCore

@Suite("Bad input never crashes the decoder or the ledger")
struct FuzzTests {
    static let seeds = [
        #"{"event_id":"call-8f2c/1","customer_id":"cus_123","occurred_at":"2026-11-24T10:15:00Z","call_id":"call-8f2c","call_seconds":95,"ai_costs_usd":{"llm":"0.0123","stt":"0.004","tts":"0.0061"},"tool_calls":3}"#,
        #"{"command_id":"c1","customer_id":"cus_1","issued_at":"2026-11-24T10:15:00Z","actor":"ops","type":"deduct_credits","amount":"2.5","reason":"refund","note":"n","allow_negative":true}"#,
        #"{"command_id":"c2","customer_id":"cus_1","issued_at":"2026-11-24T10:15:00.5+02:00","actor":"ops","type":"enable_credits","settings":{"price_per_minute":1e2,"grace_period_seconds":0,"low_credit_threshold":"-5","low_credit_alerts":true,"tool_call_price":"0.03","credits_per_usd":"100"}}"#,
        #"{"command_id":"c3","customer_id":"cus_1","issued_at":"2026-11-24T10:15:00Z","actor":"ops","type":"quick_buy","package":"1000","payment_ref":"p"}"#,
    ]

    static let interesting: [[UInt8]] = [
        "\"", "\\", "{", "}", "[", "]", ",", ":", "-", ".", "e", "9", "0", "null", "true",
        "\\u0000", "\\ud800", "1e999", "999999999999999999999", "\u{FF}", " ",
    ]
    .map { Array($0.utf8) }

    @Test(
        "random mutations of valid payloads decode to a value or a reason, and apply without trapping",
        arguments: 0..<8)
    func mutations(seed: UInt64) throws {
        var rng = SeededGenerator(state: seed &* 7919)
        let ledger = Ledger()
        var account = CustomerAccount(
            customerID: "cus_1", creditsEnabled: true,
            settings: CustomerSettings(
                pricePerMinute: CreditAmount(credits: 1_000_000_000_000), gracePeriodSeconds: 0))
        var valid = 0
        var invalid = 0
        for _ in 0..<2_500 {
            var bytes = Array(Self.seeds.randomElement(using: &rng)!.utf8)
            for _ in 0..<Int.random(in: 1...6, using: &rng) { rng.mutate(&bytes, pieces: Self.interesting) }
            let kind: InputKind = bytes.starts(with: Array(#"{"event_id""#.utf8)) ? .usage : .command
            switch InputDecoder.decode(kind, key: nil, payload: bytes) {
            case .usage(let usage):
                valid += 1
                if let transition = try? ledger.apply(usage, to: account, at: t0) { account = transition.account }
            case .call(let call):
                valid += 1
                account = ledger.apply(call, to: account, at: t0).account
            case .command(let command):
                valid += 1
                account = ledger.apply(command, to: account, at: t0).account
            case .invalid(let error, _):
                invalid += 1
                #expect(!error.message.isEmpty)
            }
            _ = account.balance.description
        }
        // Both paths were exercised: some mutations stay valid and reach the ledger.
        #expect(valid > 50 && invalid > 1_000, "valid \(valid), invalid \(invalid)")
    }
}
