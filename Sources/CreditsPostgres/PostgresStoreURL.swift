import Foundation
import NIOSSL
import PostgresNIO

/// A `postgres://user:password@host:port/database?sslmode=disable|require` address of the
/// shared store. Its description never shows the password.
public struct PostgresStoreURL: Sendable, Equatable, CustomStringConvertible {
    /// Why an address cannot be used.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public let host: String
    public let port: Int
    public let username: String
    private(set) var password: String?
    public let database: String
    /// `require`: TLS with the system's trust roots and host name check; `disable` (the default):
    /// plain TCP, for a database on the same host or a private network.
    public let requiresTLS: Bool

    public init(_ text: String) throws(Invalid) {
        guard let components = URLComponents(string: text),
            components.scheme == "postgres" || components.scheme == "postgresql"
        else {
            throw Invalid(description: "store.url must look like postgres://user:password@host:5432/database")
        }
        guard let host = components.host, !host.isEmpty else { throw Invalid(description: "store.url names no host") }
        guard let user = components.user, !user.isEmpty else { throw Invalid(description: "store.url names no user") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty else { throw Invalid(description: "store.url names no database (…/database)") }
        let port = components.port ?? 5432
        guard (1...65_535).contains(port) else { throw Invalid(description: "store.url port \(port) is out of range") }
        var tls = false
        for item in components.queryItems ?? [] {
            switch (item.name, item.value ?? "") {
            case ("sslmode", "disable"): tls = false
            case ("sslmode", "require"), ("sslmode", "verify-full"): tls = true
            case ("sslmode", let other):
                throw Invalid(description: "store.url sslmode=\(other) is not supported; use disable or require")
            default:
                throw Invalid(description: "store.url parameter \"\(item.name)\" is not supported (only sslmode)")
            }
        }
        self.host = host
        self.port = port
        username = user.removingPercentEncoding ?? user
        password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database
        requiresTLS = tls
    }

    /// The same address with `password` (from a secret source rather than the URL).
    public func with(password: String) -> PostgresStoreURL {
        var copy = self
        copy.password = password
        return copy
    }

    public var description: String {
        "postgres://\(username)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)\(requiresTLS ? "?sslmode=require" : "")"
    }

    /// The connection's settings; `role` names the connection in `pg_stat_activity`
    /// (`application_name`: `credits-ledger <role> pid <pid>`).
    func configuration(role: String) -> PostgresConnection.Configuration {
        var tls = PostgresConnection.Configuration.TLS.disable
        if requiresTLS, let context = try? NIOSSLContext(configuration: .makeClientConfiguration()) {
            tls = .require(context)
        }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username,
            password: password, database: database, tls: tls)
        configuration.options.connectTimeout = .seconds(5)
        // A process paused in the middle of a transaction (SIGSTOP, a VM freeze) must not hold the
        // partition's fence row for longer than a rebalance takes: the server ends such a session.
        configuration.options.additionalStartupParameters = [
            ("idle_in_transaction_session_timeout", "5000"),
            ("application_name", "credits-ledger \(role) pid \(getpid())"),
        ]
        return configuration
    }
}
