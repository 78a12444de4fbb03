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

    init(url: PostgresStoreURL, role: String, logger: Logger) {
        configuration = url.configuration(role: role)
        eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        self.logger = logger
    }

    /// Runs one statement and returns its rows (all of them).
    @discardableResult
    func query(_ query: PostgresQuery, _ context: @autoclosure () -> String) throws(StoreError) -> PostgresQueryResult {
        let connection = try connected(context())
        do {
            return try connection.query(query, logger: logger).wait()
        } catch {
            if connection.isClosed { self.connection = nil }
            throw Self.storeError(error, context: context())
        }
    }

    /// Runs `body` in one transaction at `isolation`, committing when it returns and rolling back
    /// when it throws. A connection lost mid-way is dropped (the server rolls back).
    func transaction<T>(
        _ isolation: String = "READ COMMITTED", readOnly: Bool = false,
        _ body: () throws(StoreError) -> T
    ) throws(StoreError) -> T {
        try query(PostgresQuery(unsafeSQL: "BEGIN ISOLATION LEVEL \(isolation)\(readOnly ? " READ ONLY" : "")"), "BEGIN")
        transactionConnection = connection
        defer { transactionConnection = nil }
        do {
            let value = try body()
            try query("COMMIT", "COMMIT")
            return value
        } catch {
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
