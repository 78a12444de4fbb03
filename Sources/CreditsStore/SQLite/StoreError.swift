/// A failure of the SQLite store, with SQLite's result code and message.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// SQLite's extended result code, or -1 for errors of the store itself.
    public let code: Int32
    public let message: String
    /// What the store was doing (the SQL or the operation).
    public let context: String

    public init(code: Int32, message: String, context: String) {
        self.code = code
        self.message = message
        self.context = context
    }

    /// The code of `amountOutOfRange`: a sum the store was asked for does not fit an amount.
    public static let amountOutOfRangeCode: Int32 = -2

    /// A sum that does not fit an amount (not a failure of the store itself).
    static func amountOutOfRange(_ message: String) -> StoreError {
        StoreError(code: amountOutOfRangeCode, message: message, context: "summing amounts")
    }

    public var description: String { "SQLite error \(code): \(message) (while \(context))" }
}
