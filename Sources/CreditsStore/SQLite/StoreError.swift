/// A failure of the store, with the database's result code and message.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// SQLite's extended result code, -1 for errors of the store itself, or one of the negative
    /// codes below.
    public let code: Int32
    public let message: String
    /// What the store was doing (the SQL or the operation).
    public let context: String
    /// The database: "SQLite" or "PostgreSQL".
    public let backend: String

    public init(code: Int32, message: String, context: String, backend: String = "SQLite") {
        self.code = code
        self.message = message
        self.context = context
        self.backend = backend
    }

    /// The code of `fenced`: another instance applied a partition of the batch since this one
    /// read its position; nothing of the batch was stored.
    public static let fencedCode: Int32 = -3

    /// The code of a PostgreSQL error (its SQLSTATE is in the message).
    public static let postgresCode: Int32 = -10

    /// Whether another instance owns a partition this batch needed.
    public var isFenced: Bool { code == Self.fencedCode }

    /// The code of `amountOutOfRange`: a sum the store was asked for does not fit an amount.
    public static let amountOutOfRangeCode: Int32 = -2

    /// A sum that does not fit an amount (not a failure of the store itself).
    static func amountOutOfRange(_ message: String) -> StoreError {
        StoreError(code: amountOutOfRangeCode, message: message, context: "summing amounts")
    }

    public var description: String {
        if isFenced { return "fenced: \(message)" }
        return "\(backend) error \(code): \(message) (while \(context))"
    }
}
