/// Exact parsing and printing of fixed-point decimal numbers (no floating point anywhere).
///
/// Accepts `-12.345`, `+1`, `0.5`, `.5` is refused, and exponents (`1.5e2`) when the text
/// came from a JSON number. The value is scaled to `scale` fractional digits.
enum FixedPointDecimal {
    enum ParseError: Error, Equatable {
        case malformed
        case tooManyDecimals(max: Int)
        case outOfRange
    }

    /// Parses `text` into an integer count of `10^-scale` units.
    static func parse(_ text: String, scale: Int, allowExponent: Bool) throws(ParseError) -> Int128 {
        var bytes = Array(text.utf8)[...]
        guard !bytes.isEmpty, bytes.count <= 64 else { throw bytes.isEmpty ? .malformed : .outOfRange }
        var negative = false
        if bytes.first == UInt8(ascii: "-") || bytes.first == UInt8(ascii: "+") {
            negative = bytes.first == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        var digits: [UInt8] = []
        var fractionLength = 0
        var seenPoint = false
        var integerDigits = 0
        var exponent = 0
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                digits.append(byte - UInt8(ascii: "0"))
                if seenPoint { fractionLength += 1 } else { integerDigits += 1 }
            } else if byte == UInt8(ascii: ".") && !seenPoint {
                seenPoint = true
            } else if (byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")) && allowExponent {
                exponent = try parseExponent(bytes[(index + 1)...])
                break
            } else {
                throw .malformed
            }
            index += 1
        }
        guard integerDigits > 0, !(seenPoint && fractionLength == 0) else { throw .malformed }
        // value = digits * 10^(exponent - fractionLength); scaled = value * 10^scale
        var shift = scale + exponent - fractionLength
        while shift < 0 {
            guard let last = digits.last else { break }
            guard last == 0 else { throw .tooManyDecimals(max: scale) }
            digits.removeLast()
            shift += 1
        }
        var value: Int128 = 0
        for digit in digits {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = times10.addingReportingOverflow(Int128(digit))
            guard !o1, !o2, next <= limit else { throw .outOfRange }
            value = next
        }
        if value != 0 {
            for _ in 0..<max(shift, 0) {
                let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
                guard !overflow, times10 <= limit else { throw .outOfRange }
                value = times10
            }
        }
        return negative ? -value : value
    }

    private static let limit: Int128 = Int128(10).power(30)

    private static func parseExponent(_ bytes: ArraySlice<UInt8>) throws(ParseError) -> Int {
        var rest = bytes
        var negative = false
        if rest.first == UInt8(ascii: "-") || rest.first == UInt8(ascii: "+") {
            negative = rest.first == UInt8(ascii: "-")
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty, rest.count <= 3 else { throw rest.isEmpty ? .malformed : .outOfRange }
        var value = 0
        for byte in rest {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { throw .malformed }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return negative ? -value : value
    }

    /// Canonical text: no exponent, no trailing fractional zeros, `"0"` for zero.
    static func format(_ units: Int128, scale: Int) -> String {
        if units == 0 { return "0" }
        let negative = units < 0
        let magnitude = negative ? -units : units
        let divisor = Int128(10).power(scale)
        let whole = magnitude / divisor
        var fraction = magnitude % divisor
        var text = negative ? "-" : ""
        text += String(whole)
        if fraction != 0 {
            var fractionDigits = scale
            while fraction % 10 == 0 {
                fraction /= 10
                fractionDigits -= 1
            }
            let digits = String(fraction)
            text += "." + String(repeating: "0", count: fractionDigits - digits.count) + digits
        }
        return text
    }
}

extension Int128 {
    /// `self` raised to a small non-negative power.
    func power(_ exponent: Int) -> Int128 {
        var result: Int128 = 1
        for _ in 0..<exponent { result *= self }
        return result
    }
}
