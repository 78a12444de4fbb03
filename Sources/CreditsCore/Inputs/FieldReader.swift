/// Reads typed fields out of a JSON object, failing with a message that names the field.
struct FieldReader {
    let fields: [String: JSONValue]
    let code: ReasonCode
    let path: String

    init(_ fields: [String: JSONValue], code: ReasonCode, path: String = "") {
        self.fields = fields
        self.code = code
        self.path = path
    }

    func fail(_ name: String, _ problem: String) -> InputError {
        InputError(code, "\(path)\(name): \(problem)")
    }

    /// True when the field is present and not null.
    func has(_ name: String) -> Bool {
        if let value = fields[name], value != .null { return true }
        return false
    }

    func string(_ name: String, length: ClosedRange<Int>) throws(InputError) -> String {
        guard let value = try optionalString(name, length: length) else { throw fail(name, "is required") }
        return value
    }

    func optionalString(_ name: String, length: ClosedRange<Int>) throws(InputError) -> String? {
        guard let value = fields[name], value != .null else { return nil }
        guard case .string(let text) = value else { throw fail(name, "must be a string, got \(value.typeName)") }
        // Characters are Unicode scalars, as the stores see them: a "character" built of a
        // thousand combining marks counts a thousand.
        guard length.contains(text.unicodeScalars.count) else {
            throw fail(name, "must be \(length.lowerBound)-\(length.upperBound) characters long")
        }
        // PostgreSQL's text cannot hold U+0000, and no id or note needs it.
        guard !text.unicodeScalars.contains("\u{0}") else { throw fail(name, "must not contain the NUL character (U+0000)") }
        return text
    }

    /// The length of a timestamp's text.
    static let timestampLength: ClosedRange<Int> = 1...64

    func timestamp(_ name: String) throws(InputError) -> Timestamp {
        let text = try string(name, length: Self.timestampLength)
        guard let timestamp = Timestamp(rfc3339: text) else {
            throw fail(name, "must be an RFC 3339 timestamp such as 2026-11-24T10:15:00Z")
        }
        return timestamp
    }

    func optionalTimestamp(_ name: String) throws(InputError) -> Timestamp? {
        guard has(name) else { return nil }
        return try timestamp(name)
    }

    func optionalInteger(_ name: String, range: ClosedRange<Int64>) throws(InputError) -> Int64? {
        guard let value = fields[name], value != .null else { return nil }
        guard case .number(let text) = value else { throw fail(name, "must be an integer, got \(value.typeName)") }
        guard let units = try? FixedPointDecimal.parse(text, scale: 0, allowExponent: true),
            units >= Int128(range.lowerBound), units <= Int128(range.upperBound)
        else { throw fail(name, "must be an integer from \(range.lowerBound) to \(range.upperBound)") }
        return Int64(units)
    }

    func optionalBool(_ name: String) throws(InputError) -> Bool? {
        guard let value = fields[name], value != .null else { return nil }
        guard case .bool(let flag) = value else { throw fail(name, "must be true or false, got \(value.typeName)") }
        return flag
    }

    /// Text of a decimal given as a string or a JSON number.
    private func decimalText(_ name: String) throws(InputError) -> (String, isNumber: Bool)? {
        guard let value = fields[name], value != .null else { return nil }
        switch value {
        case .string(let text): return (text, false)
        case .number(let text): return (text, true)
        default: throw fail(name, "must be a decimal string or number, got \(value.typeName)")
        }
    }

    func optionalCredits(_ name: String, positive: Bool = false, nonNegative: Bool = false) throws(InputError) -> CreditAmount? {
        guard let (text, isNumber) = try decimalText(name) else { return nil }
        let amount: CreditAmount
        do {
            amount = try CreditAmount(parsing: text, allowExponent: isNumber)
        } catch {
            throw fail(name, "\(error)")
        }
        if positive && amount.micros <= 0 { throw fail(name, "must be greater than 0") }
        if nonNegative && amount.micros < 0 { throw fail(name, "must not be negative") }
        return amount
    }

    func credits(_ name: String, positive: Bool) throws(InputError) -> CreditAmount {
        guard let amount = try optionalCredits(name, positive: positive) else { throw fail(name, "is required") }
        return amount
    }

    func optionalUSD(_ name: String) throws(InputError) -> USDAmount? {
        guard let (text, isNumber) = try decimalText(name) else { return nil }
        do {
            return try USDAmount(parsing: text, allowExponent: isNumber)
        } catch {
            throw fail(name, "\(error)")
        }
    }

    func optionalObject(_ name: String) throws(InputError) -> FieldReader? {
        guard let value = fields[name], value != .null else { return nil }
        guard case .object(let members) = value else { throw fail(name, "must be an object, got \(value.typeName)") }
        return FieldReader(members, code: code, path: "\(path)\(name).")
    }
}
