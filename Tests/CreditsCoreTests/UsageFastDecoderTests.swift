import CreditsTestSupport
import Testing

@testable import CreditsCore

/// The usage decoder's fast path must never answer differently from the full path
/// (`JSONParser` then `UsageEvent(json:)`): it may only decline.
@Suite("The usage decoder's fast path agrees with the full path")
struct UsageFastDecoderTests {
    /// The full path alone: nil when it refuses the payload.
    static func fullPath(_ bytes: [UInt8]) -> UsageEvent? {
        guard case .object(let fields)? = try? JSONParser.parse(bytes), fields["type"] == nil else { return nil }
        return try? UsageEvent(json: fields)
    }

    static let typical = [
        #"{"event_id":"call-8f2c/1","customer_id":"cus_123","occurred_at":"2026-11-24T10:15:00Z","call_id":"call-8f2c","call_seconds":95,"ai_costs_usd":{"llm":"0.0123","stt":"0.004","tts":"0.0061"},"tool_calls":3}"#,
        #"{"event_id":"e1","customer_id":"cus_1","occurred_at":"2026-11-24T10:15:00Z","call_seconds":30,"tool_calls":1}"#,
        #" { "event_id" : "e2" , "customer_id" : "a.b:c@d-e_f" , "occurred_at" : "2026-11-24T10:15:00.250+02:00" , "ai_costs_usd" : { "llm" : 0.5 , "tts" : 12 } } "#,
        #"{"event_id":"e3","customer_id":"cus_1","occurred_at":"2026-11-24T10:15:00Z","ai_costs_usd":{"stt":"0.001"}}"#,
        #"{"event_id":"e4","customer_id":"cus_1","occurred_at":"2026-11-24T10:15:00Z","tool_calls":0}"#,
    ]

    @Test("typical usage events take the fast path, with the full path's result")
    func typicalEvents() throws {
        for text in Self.typical {
            let bytes = Array(text.utf8)
            let fast = try #require(UsageFastDecoder.decode(bytes), "fast path declined \(text)")
            #expect(fast == Self.fullPath(bytes), "\(text)")
        }
    }

    @Test(
        "the fast path declines what it is not sure of",
        arguments: [
            #"{"event_id":"e","customer_id":"c","occurred_at":"2026-11-24T10:15:00Z","call_seconds":1,"type":"call_started"}"#,
            #"{"event_id":"e","event_id":"f","customer_id":"c","occurred_at":"2026-11-24T10:15:00Z","call_seconds":1}"#,
            #"{"event_id":"e\u0041","customer_id":"c","occurred_at":"2026-11-24T10:15:00Z","call_seconds":1}"#,
            #"{"event_id":"é","customer_id":"c","occurred_at":"2026-11-24T10:15:00Z","call_seconds":1}"#,
            #"{"event_id":"e","customer_id":"c","occurred_at":"2026-11-24T10:15:00Z","call_seconds":1,"call_id":null}"#,
            #"{"event_id":"e","customer_id":"c","occurred_at":"2026-11-24T10:15:00Z","call_seconds":1e1}"#,
            #"{"event_id":"e","customer_id":"c","occurred_at":"2026-11-24T10:15:00Z","call_seconds":01}"#,
            #"{"event_id":"e","customer_id":"c","occurred_at":"2026-11-24T10:15:00Z","call_seconds":-1}"#,
            #"{"event_id":"e","customer_id":"c","occurred_at":"2026-11-24T10:15:00Z","call_seconds":86401}"#,
            #"{"event_id":"e","customer_id":"c","occurred_at":"2026-11-24T10:15:00Z","call_seconds":99999999999999999999}"#,
            #"{"event_id":"e","customer_id":"c","occurred_at":"2026-11-24T10:15:00Z","ai_costs_usd":{}}"#,
            #"{"event_id":"e","customer_id":"c","occurred_at":"yesterday","call_seconds":1}"#,
            #"{"event_id":"e","customer_id":"c c","occurred_at":"2026-11-24T10:15:00Z","call_seconds":1}"#,
            #"{"event_id":"e","customer_id":"c","occurred_at":"2026-11-24T10:15:00Z"}"#,
            #"{"event_id":"e","customer_id":"c","occurred_at":"2026-11-24T10:15:00Z","call_seconds":1,"extra":1}"#,
            #"{"event_id":"e","customer_id":"c","occurred_at":"2026-11-24T10:15:00Z","call_seconds":1} x"#,
        ])
    func declines(text: String) {
        #expect(UsageFastDecoder.decode(Array(text.utf8)) == nil)
    }

    static let pieces: [[UInt8]] = [
        "\"", "\\", "{", "}", ",", ":", "-", ".", "e", "E", "+", "0", "7", "null", "true", " ", "\u{7F}", "\u{E9}",
        "\"type\":\"call_ended\",", "\"call_id\":\"x\",", "\"tool_calls\":2,", "\"ai_costs_usd\":{\"llm\":1.25},",
        "\"call_seconds\":99999,", "\"event_id\":\"dup\",",
    ]
    .map { Array($0.utf8) }

    @Test("over generated payloads, a fast answer is always the full path's answer", arguments: 0..<6)
    func agreement(seed: UInt64) {
        var rng = SeededGenerator(state: seed &* 104_729 &+ 17)
        var fastAnswers = 0
        for _ in 0..<4_000 {
            var bytes = Array(Self.typical.randomElement(using: &rng)!.utf8)
            for _ in 0..<Int.random(in: 0...3, using: &rng) { rng.mutate(&bytes, pieces: Self.pieces, values: 0...127) }
            guard let fast = UsageFastDecoder.decode(bytes) else { continue }
            fastAnswers += 1
            let full = Self.fullPath(bytes)
            #expect(fast == full, "\(String(decoding: bytes, as: UTF8.self))")
        }
        // Not vacuous: unmutated and harmlessly mutated payloads take the fast path.
        #expect(fastAnswers > 400)
    }
}
