/// Reads the common shape of a usage event straight from its bytes, without building a JSON
/// value or a dictionary: every usage event passes here, so this is the decoder's hot path.
///
/// It only ever answers with a usage event that the full path (`JSONParser` then
/// `UsageEvent(json:)`) would make the same from the same bytes. Whatever it is not sure of — a
/// key it does not know (a call event's `type` among them), a repeated key, `null`, an escape or
/// any byte above ASCII in a string, a number with a sign or an exponent, a value out of range —
/// makes it answer nil, and the full path decides (and words any error). A test checks the two
/// agree over many generated payloads.
enum UsageFastDecoder {
    static func decode(_ payload: [UInt8]) -> UsageEvent? {
        var scanner = Scanner(bytes: payload)
        return scanner.usage()
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func usage() -> UsageEvent? {
            var eventID: String?
            var customerID: String?
            var occurredAt: String?
            var callID: String?
            var callSeconds: Int64?
            var toolCalls: Int64?
            var aiCosts: UsageEvent.AICosts?
            // A key seen before (its field is set) goes to the full path, as an unknown one does.
            guard
                members({ scanner, key in
                    switch key {
                    case "event_id" where eventID == nil: return Self.fill(&eventID, scanner.string())
                    case "customer_id" where customerID == nil: return Self.fill(&customerID, scanner.string())
                    case "occurred_at" where occurredAt == nil: return Self.fill(&occurredAt, scanner.string())
                    case "call_id" where callID == nil: return Self.fill(&callID, scanner.string())
                    case "call_seconds" where callSeconds == nil: return Self.fill(&callSeconds, scanner.integer())
                    case "tool_calls" where toolCalls == nil: return Self.fill(&toolCalls, scanner.integer())
                    case "ai_costs_usd" where aiCosts == nil: return Self.fill(&aiCosts, scanner.costs())
                    default:
                        return false
                    }
                }), index == bytes.count
            else { return nil }
            // The full path's bounds (its strings' lengths count characters: here all ASCII).
            guard let eventID, UsageEvent.idLength.contains(eventID.utf8.count),
                let customerID, Identifier.isValidCustomerID(customerID),
                let occurredText = occurredAt, FieldReader.timestampLength.contains(occurredText.utf8.count),
                let occurred = Timestamp(rfc3339: occurredText)
            else { return nil }
            if let callID, !UsageEvent.idLength.contains(callID.utf8.count) { return nil }
            if let callSeconds, !UsageEvent.callSecondsRange.contains(callSeconds) { return nil }
            if let toolCalls, !UsageEvent.toolCallsRange.contains(toolCalls) { return nil }
            guard callSeconds != nil || aiCosts != nil || toolCalls != nil else { return nil }
            return UsageEvent(
                eventID: eventID, customerID: customerID, occurredAt: occurred, callID: callID,
                callSeconds: callSeconds, aiCosts: aiCosts, toolCalls: toolCalls)
        }

        /// `ai_costs_usd`: an object of at least one of llm, stt, tts, each a decimal string or number.
        mutating func costs() -> UsageEvent.AICosts? {
            var costs = UsageEvent.AICosts()
            // A key seen before (its field is set) goes to the full path, as an unknown one does.
            guard
                members({ scanner, key in
                    switch key {
                    case "llm" where costs.llm == nil: return Self.fill(&costs.llm, scanner.usd())
                    case "stt" where costs.stt == nil: return Self.fill(&costs.stt, scanner.usd())
                    case "tts" where costs.tts == nil: return Self.fill(&costs.tts, scanner.usd())
                    default:
                        return false
                    }
                }), costs.llm != nil || costs.stt != nil || costs.tts != nil
            else { return nil }
            return costs
        }

        /// Sets a field to what was read; false (give up) when nothing could be.
        static func fill<Value>(_ field: inout Value?, _ value: Value?) -> Bool {
            field = value
            return value != nil
        }

        /// `{ "key": value, ... }` with whitespace around the tokens; `member` reads each value
        /// and returns false to give up.
        mutating func members(_ member: (inout Scanner, String) -> Bool) -> Bool {
            skipWhitespace()
            guard take(UInt8(ascii: "{")) else { return false }
            skipWhitespace()
            if take(UInt8(ascii: "}")) {
                skipWhitespace()
                return true
            }
            while true {
                skipWhitespace()
                guard let key = string() else { return false }
                skipWhitespace()
                guard take(UInt8(ascii: ":")) else { return false }
                skipWhitespace()
                guard member(&self, key) else { return false }
                skipWhitespace()
                if take(UInt8(ascii: ",")) { continue }
                guard take(UInt8(ascii: "}")) else { return false }
                skipWhitespace()
                return true
            }
        }

        /// A string of printable ASCII without escapes.
        mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let text = String(decoding: bytes[start..<index], as: UTF8.self)
                    index += 1
                    return text
                }
                guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") else { return nil }
                index += 1
            }
            return nil
        }

        /// A non-negative integer without sign, fraction or exponent (and no leading zero), up to 18 digits.
        mutating func integer() -> Int64? {
            let start = index
            var value: Int64 = 0
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                guard index - start < 18 else { return nil }
                value = value * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
                index += 1
            }
            let digits = index - start
            guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
            guard index == bytes.count || !Self.continuesNumber(bytes[index]) else { return nil }
            return value
        }

        /// A dollar amount: a string without escapes, or a number `digits[.digits]` (as JSON
        /// writes it: no leading zero before another digit), parsed as the full path does.
        mutating func usd() -> USDAmount? {
            if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
                guard let text = string() else { return nil }
                return try? USDAmount(parsing: text, allowExponent: false)
            }
            let start = index
            func digits() -> Int {
                let first = index
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
                return index - first
            }
            let whole = digits()
            guard whole > 0, whole == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
            if take(UInt8(ascii: ".")) { guard digits() > 0 else { return nil } }
            guard index == bytes.count || !Self.continuesNumber(bytes[index]) else { return nil }
            return try? USDAmount(parsing: String(decoding: bytes[start..<index], as: UTF8.self), allowExponent: true)
        }

        /// A byte that would make the number before it longer or not JSON (left to the full path).
        static func continuesNumber(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"),
                UInt8(ascii: "-"), UInt8(ascii: "+"):
                true
            default: false
            }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }
    }
}
