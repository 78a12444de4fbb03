/// A non-negative US dollar amount, held exactly as integer nano-dollars (9 decimals).
public struct USDAmount: Hashable, Sendable, CustomStringConvertible {
    public static let zero = USDAmount(nanos: 0)
    /// Largest amount an input may carry: 1e12 dollars.
    static let inputLimit: Int128 = 1_000_000_000_000 * 1_000_000_000

    /// The amount in nano-dollars.
    public let nanos: Int128

    public init(nanos: Int128) { self.nanos = nanos }

    /// Parses the contract's decimal text (at most 9 fractional digits, 0 <= value <= 1e12).
    public init(parsing text: String, allowExponent: Bool = false) throws(AmountError) {
        let units: Int128
        do {
            units = try FixedPointDecimal.parse(text, scale: 9, allowExponent: allowExponent)
        } catch .tooManyDecimals {
            throw .tooManyDecimals(max: 9)
        } catch .malformed {
            throw .notADecimal
        } catch {
            throw .outOfRange
        }
        guard units >= 0 else { throw .negative }
        guard units <= Self.inputLimit else { throw .outOfRange }
        self.nanos = units
    }

    public var description: String { FixedPointDecimal.format(nanos, scale: 9) }
}
