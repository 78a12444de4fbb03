import Testing

@testable import CreditsCore

@Suite("Credit and USD amounts")
struct AmountTests {
    @Test(
        "decimal text parses to exact micro-credits",
        arguments: [
            ("1000", Int64(1_000_000_000)), ("0.03", 30_000), ("-2.5", -2_500_000), ("0", 0), ("-0", 0),
            ("0.000001", 1), ("1000000000000", 1_000_000_000_000_000_000), ("-1000000000000", -1_000_000_000_000_000_000),
            ("12.340000", 12_340_000), ("+7", 7_000_000), ("007.5", 7_500_000),
        ])
    func parses(text: String, micros: Int64) throws {
        #expect(try CreditAmount(parsing: text).micros == micros)
    }

    @Test(
        "JSON numbers may use exponents when exact",
        arguments: [
            ("1e3", Int64(1_000_000_000)), ("1.5E2", 150_000_000), ("2e-6", 2), ("30000e-6", 30_000), ("0e10", 0),
        ])
    func exponents(text: String, micros: Int64) throws {
        #expect(try CreditAmount(parsing: text, allowExponent: true).micros == micros)
    }

    @Test(
        "bad amounts are refused with the reason",
        arguments: [
            ("0.0000001", AmountError.tooManyDecimals(max: 6)), ("1.1234567", .tooManyDecimals(max: 6)),
            ("1000000000000.000001", .outOfRange), ("1e13", .notADecimal), ("abc", .notADecimal), ("", .notADecimal),
            ("1.", .notADecimal), (".5", .notADecimal), ("1,5", .notADecimal), ("--1", .notADecimal), (" 1", .notADecimal),
            ("99999999999999999999999999999999999", .outOfRange),
        ])
    func refuses(text: String, error: AmountError) {
        #expect(throws: error) { try CreditAmount(parsing: text) }
    }

    @Test("exponent amounts keep the limits")
    func exponentLimits() {
        #expect(throws: AmountError.outOfRange) { try CreditAmount(parsing: "1.000000000001e12", allowExponent: true) }
        #expect(throws: AmountError.tooManyDecimals(max: 6)) { try CreditAmount(parsing: "1e-7", allowExponent: true) }
        #expect(throws: AmountError.outOfRange) { try CreditAmount(parsing: "1e999", allowExponent: true) }
    }

    @Test(
        "output text is canonical",
        arguments: [
            (Int64(1_000_000_000), "1000"), (30_000, "0.03"), (-2_500_000, "-2.5"), (0, "0"), (1, "0.000001"),
            (-1, "-0.000001"), (10_000_000, "10"), (123_456_789, "123.456789"), (Int64.max, "9223372036854.775807"),
            (Int64.min, "-9223372036854.775808"),
        ])
    func formats(micros: Int64, text: String) {
        #expect(CreditAmount(micros: micros).description == text)
    }

    @Test("USD amounts have 9 decimals and are never negative")
    func usd() throws {
        #expect(try USDAmount(parsing: "0.000000001").nanos == 1)
        #expect(try USDAmount(parsing: "0.0123").description == "0.0123")
        #expect(try USDAmount(parsing: "1000000000000").nanos == 1_000_000_000_000_000_000_000)
        #expect(throws: AmountError.tooManyDecimals(max: 9)) { try USDAmount(parsing: "0.0000000001") }
        #expect(throws: AmountError.negative) { try USDAmount(parsing: "-0.01") }
        #expect(throws: AmountError.outOfRange) { try USDAmount(parsing: "1000000000000.000000001") }
    }

    @Test("overflowing sums are detected")
    func overflow() {
        #expect(CreditAmount(micros: .max).adding(CreditAmount(micros: 1)) == nil)
        #expect(CreditAmount(micros: 5).adding(CreditAmount(micros: -7)) == CreditAmount(micros: -2))
    }
}

@Suite("Timestamps")
struct TimestampTests {
    @Test(
        "RFC 3339 inputs",
        arguments: [
            ("2026-11-24T10:15:00Z", "2026-11-24T10:15:00.000Z"),
            ("2026-11-24T10:15:00.123Z", "2026-11-24T10:15:00.123Z"),
            ("2026-11-24T10:15:00.1Z", "2026-11-24T10:15:00.100Z"),
            ("2026-11-24T10:15:00.123456789Z", "2026-11-24T10:15:00.123Z"),
            ("2026-11-24T12:15:00+02:00", "2026-11-24T10:15:00.000Z"),
            ("2026-11-24T00:15:00-01:30", "2026-11-24T01:45:00.000Z"),
            ("2024-02-29t23:59:59z", "2024-02-29T23:59:59.000Z"),
            ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"),
            ("1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"),
        ])
    func parses(text: String, canonical: String) {
        #expect(Timestamp(rfc3339: text)?.description == canonical)
    }

    @Test(
        "malformed timestamps",
        arguments: [
            "2026-11-24", "2026-11-24T10:15:00", "2026-13-01T00:00:00Z", "2025-02-29T00:00:00Z", "2026-11-24T24:00:00Z",
            "2026-11-24T10:15:00.Z", "2026-11-24T10:15:00+2:00", "yesterday", "2026-11-24T10:15:00Zjunk",
        ])
    func refuses(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test("epoch milliseconds")
    func epoch() {
        #expect(Timestamp(rfc3339: "2026-11-24T10:15:00.123Z")?.millisecondsSinceEpoch == 1_795_515_300_123)
    }
}
