import CreditsStore
import NIOPosix
import Synchronization

/// Read access to the store for the HTTP API: a pool of read-only connections, each request on
/// NIO's blocking-work threads (never the cooperative pool) and in one read transaction, so
/// concurrent requests read in parallel and each sees one consistent snapshot. Connections are
/// opened on first use (the pipeline creates the file) and dropped after a store error.
final class ReadModel: Sendable {
    private let configuration: ServiceConfiguration
    private let threads: NIOThreadPool
    /// Idle readers. A reader is used by one request at a time: taken out, then given back.
    private let idle = Mutex<[UncheckedReader]>([])

    /// A `LedgerReader` handed between threads; only the request that took it from the pool uses it.
    private struct UncheckedReader: @unchecked Sendable {
        let reader: any LedgerReading
    }

    init(configuration: ServiceConfiguration, threads: NIOThreadPool = .singleton) {
        self.configuration = configuration
        self.threads = threads
    }

    /// Runs `body` with a reader inside one read transaction. A store failure becomes a 503
    /// `store_unavailable`; a sum out of range a 422 `amount_out_of_range`.
    func read<T: Sendable>(_ body: @escaping @Sendable (any LedgerReading) throws -> T) async throws -> T {
        try await threads.runIfActive { [self] in
            let reader = try take()
            do {
                let value = try reader.reader.snapshot { () throws(StoreError) -> Result<T, Error> in
                    do { return .success(try body(reader.reader)) } catch let error as StoreError { throw error } catch {
                        return .failure(error)
                    }
                }
                idle.withLock { $0.append(reader) }
                return try value.get()
            } catch let error as StoreError {
                throw Self.apiError(error)
            }
        }
    }

    private func take() throws -> UncheckedReader {
        if let reader = idle.withLock({ $0.popLast() }) { return reader }
        do {
            return UncheckedReader(reader: try StoreReaders.open(configuration))
        } catch {
            throw Self.apiError(error)
        }
    }

    private static func apiError(_ error: StoreError) -> APIError {
        if error.code == StoreError.amountOutOfRangeCode {
            return APIError(status: .unprocessableContent, code: "amount_out_of_range", message: error.message)
        }
        return APIError(status: .serviceUnavailable, code: "store_unavailable", message: "the store cannot be read: \(error)")
    }
}
