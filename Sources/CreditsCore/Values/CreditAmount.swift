/// An amount of credits, held exactly as integer micro-credits (0.000001 credit).
///
/// The contract bounds every amount written in an input to an absolute value of 1e12 credits;
/// balances are sums of such amounts and are only bounded by `Int64`.
public struct CreditAmount: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Micro-credits per credit.
    public static let microsPerCredit: Int64 = 1_000_000
    /// Largest absolute amount an input may carry: 1e12 credits.
    public static let inputLimit = CreditAmount(micros: 1_000_000_000_000 * microsPerCredit)
    public static let zero = CreditAmount(micros: 0)

    /// The amount in micro-credits.
    public let micros: Int64

    public init(micros: Int64) { self.micros = micros }

    /// Whole credits, for literals in configuration and tests.
    public init(credits: Int64) { self.micros = credits * Self.microsPerCredit }

    /// Parses the contract's decimal text (at most 6 fractional digits, |value| <= 1e12).
    public init(parsing text: String, allowExponent: Bool = false) throws(AmountError) {
        let units: Int128
        do {
            units = try FixedPointDecimal.parse(text, scale: 6, allowExponent: allowExponent)
        } catch .tooManyDecimals {
            throw .tooManyDecimals(max: 6)
        } catch .malformed {
            throw .notADecimal
        } catch {
            throw .outOfRange
        }
        guard units.magnitude <= UInt128(Self.inputLimit.micros) else { throw .outOfRange }
        self.micros = Int64(units)
    }

    /// The canonical text: no exponent, no trailing fractional zeros, `"0"` for zero.
    public var description: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        appendText(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `description` as UTF-8 (how output JSON writes amounts, with no string between).
    public func appendText(to bytes: inout [UInt8]) {
        ByteCursor.onStack(writing: { write(to: &$0) }, then: { bytes.append(contentsOf: $0) })
    }

    /// Writes `description` (at most 21 bytes).
    func write(to cursor: inout ByteCursor) {
        // Int64.min has no Int64 magnitude: the general formatter (never seen in practice).
        guard micros != .min else { return cursor.append(utf8: FixedPointDecimal.format(Int128(micros), scale: 6)) }
        if micros < 0 { cursor.append(UInt8(ascii: "-")) }
        let magnitude = micros.magnitude
        cursor.appendDecimal(magnitude / 1_000_000)
        var fraction = magnitude % 1_000_000
        guard fraction != 0 else { return }
        var digits = 6
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        cursor.append(UInt8(ascii: "."))
        cursor.appendDigits(fraction, width: digits)
    }

    public static func < (lhs: CreditAmount, rhs: CreditAmount) -> Bool { lhs.micros < rhs.micros }
    public static prefix func - (value: CreditAmount) -> CreditAmount { CreditAmount(micros: -value.micros) }

    /// `lhs + rhs`, or nil when the sum does not fit.
    public func adding(_ other: CreditAmount) -> CreditAmount? {
        let (sum, overflow) = micros.addingReportingOverflow(other.micros)
        return overflow ? nil : CreditAmount(micros: sum)
    }
}

/// Why a decimal text is not an acceptable amount.
public enum AmountError: Error, Equatable, Sendable, CustomStringConvertible {
    case notADecimal
    case tooManyDecimals(max: Int)
    case outOfRange
    case negative

    public var description: String {
        switch self {
        case .notADecimal: "must be a decimal number such as \"12.5\""
        case .tooManyDecimals(let max): "has more than \(max) decimal places"
        case .outOfRange: "is out of range (absolute value at most 1e12)"
        case .negative: "must not be negative"
        }
    }
}
