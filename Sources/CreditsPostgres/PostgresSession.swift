import CreditsStore
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// One PostgreSQL connection used synchronously from one thread (the pipeline's, or a blocking
/// read thread; never an event loop). Reconnects on the next query after the connection broke;
/// every failure is a `StoreError` naming the SQLSTATE and the server's message.
final class PostgresSession {
    private let configuration: PostgresConnection.Configuration
    private let eventLoop: any EventLoop
    private let logger: Logger
    private var connection: PostgresConnection?
    /// The connection a transaction began on: every statement of the transaction must run there
    /// (a new connection would run the rest outside it, committing piece by piece).
    private var transactionConnection: PostgresConnection?
    private static let connectionIDs = Atomic<Int>(0)
    /// Statements sent and not waited for yet (`send`), in order: the connection runs them one
    /// after another without a round trip to this thread between them.
    private var inFlight: [(result: EventLoopFuture<PostgresQueryResult>, context: String)] = []

    init(url: PostgresStoreURL, role: String, logger: Logger) {
        configuration = url.configuration(role: role)
        eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        self.logger = logger
    }

    /// Runs one statement and returns its rows (all of them), after the statements sent before it.
    @discardableResult
    func query(_ query: PostgresQuery, _ context: @autoclosure () -> String) throws(StoreError) -> PostgresQueryResult {
        try send(query, context())
        return try settle().last!
    }

    /// Sends a statement without waiting for it; `settle` (or the next `query`) waits. Returns
    /// the statement's place among the results the next `settle` returns.
    @discardableResult
    func send(_ query: PostgresQuery, _ context: String) throws(StoreError) -> Int {
        let connection = try connected(context)
        inFlight.append((connection.query(query, logger: logger), context))
        return inFlight.count - 1
    }

    /// Waits for every statement sent, and returns their results in order; throws the first
    /// failure once all have ended (a statement after a failed one fails too, inside a
    /// transaction: the first is the one to report).
    @discardableResult
    func settle() throws(StoreError) -> [PostgresQueryResult] {
        let sent = inFlight
        inFlight = []
        var results: [PostgresQueryResult] = []
        results.reserveCapacity(sent.count)
        var failure: StoreError?
        for (result, context) in sent {
            do {
                results.append(try result.wait())
            } catch {
                failure = failure ?? Self.storeError(error, context: context)
            }
        }
        if let connection, connection.isClosed { self.connection = nil }
        if let failure { throw failure }
        return results
    }

    /// Runs `body` in one transaction at `isolation`, committing when it returns and rolling back
    /// when it throws. A connection lost mid-way is dropped (the server rolls back).
    func transaction<T>(
        _ isolation: String = "READ COMMITTED", readOnly: Bool = false,
        _ body: () throws(StoreError) -> T
    ) throws(StoreError) -> T {
        // Not waited for: the transaction's first query waits for it.
        try send(PostgresQuery(unsafeSQL: "BEGIN ISOLATION LEVEL \(isolation)\(readOnly ? " READ ONLY" : "")"), "BEGIN")
        transactionConnection = connection
        defer { transactionConnection = nil }
        do {
            let value = try body()
            try query("COMMIT", "COMMIT")
            return value
        } catch {
            _ = try? settle()
            if let open = transactionConnection, !open.isClosed { _ = try? query("ROLLBACK", "ROLLBACK") }
            throw error
        }
    }

    func close() {
        guard let connection else { return }
        self.connection = nil
        try? connection.close().wait()
    }

    deinit { try? connection?.close().wait() }

    private func connected(_ context: String) throws(StoreError) -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        if transactionConnection != nil {
            // The server ended the session (idle-in-transaction timeout, restart, network): the
            // transaction is gone, and nothing of it was committed.
            throw StoreError(
                code: StoreError.postgresCode,
                message: "the connection was lost inside a transaction, "
                    + "which the server rolled back", context: context, backend: "PostgreSQL")
        }
        do {
            let made = try PostgresConnection.connect(
                on: eventLoop, configuration: configuration,
                id: Self.connectionIDs.add(1, ordering: .relaxed).newValue, logger: logger
            ).wait()
            connection = made
            return made
        } catch {
            throw Self.storeError(error, context: "connecting to PostgreSQL (\(context))")
        }
    }

    /// The server's SQLSTATE and message, or the client's reason (PSQLError hides both from
    /// `description` on purpose).
    static func storeError(_ error: any Error, context: String) -> StoreError {
        var message: String
        if let error = error as? PSQLError {
            if let server = error.serverInfo {
                message = "\(server[.sqlState] ?? "?????") \(server[.message] ?? "")"
                if let detail = server[.detail] { message += " (\(detail))" }
            } else if let underlying = error.underlying {
                message = "\(error.code): \(underlying)"
            } else {
                message = "\(error.code)"
            }
        } else {
            message = "\(error)"
        }
        return StoreError(code: StoreError.postgresCode, message: message, context: context, backend: "PostgreSQL")
    }

    /// The SQLSTATE of a server error, if `error` is one.
    static func sqlState(_ error: StoreError) -> String? {
        guard error.code == StoreError.postgresCode else { return nil }
        return error.message.split(separator: " ").first.map(String.init)
    }
}
