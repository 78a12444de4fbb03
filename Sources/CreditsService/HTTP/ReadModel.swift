import CreditsStore
import Foundation

/// Serialised access to a read-only connection to the store, opened on first use (the
/// pipeline creates the file). `@unchecked Sendable`: every use of `reader` holds `lock`.
final class ReadModel: @unchecked Sendable {
    private let path: String
    private let lock = NSLock()
    private var reader: LedgerReader?

    init(path: String) { self.path = path }

    /// Runs `body` with the reader; a store failure becomes a 503 `store_unavailable`.
    func read<T>(_ body: (LedgerReader) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        do {
            if reader == nil { reader = try LedgerReader(path: path) }
            return try body(reader!)
        } catch let error as StoreError {
            reader = nil
            throw APIError(status: .serviceUnavailable, code: "store_unavailable", message: "the store cannot be read: \(error)")
        }
    }
}
