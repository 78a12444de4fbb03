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

    public var description: String { "SQLite error \(code): \(message) (while \(context))" }
}
