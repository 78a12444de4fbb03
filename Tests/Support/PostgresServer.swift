import Foundation

/// A real PostgreSQL server for tests: Debian's `postgres` programs, a new cluster in a temporary
/// directory, on a free loopback port, run as the `postgres` OS user when the tests run as root
/// (PostgreSQL refuses root). Started once per test process; each test asks for a database of its
/// own. Stopped by its PID (from `postmaster.pid`) by a watcher process when the tests exit,
/// however they exit. Never touches a system-wide cluster.
public final class PostgresServer: Sendable {
    public let port: Int
    public let directory: String
    private let binaries: String
    private let runAs: [String]

    /// The server of this test process, started on first use.
    public static func shared() throws -> PostgresServer { try sharedServer.get() }

    private static let sharedServer = Result { try PostgresServer() }

    /// A server of the caller's own, for a test that stops and starts it.
    public static func privateServer() throws -> PostgresServer { try PostgresServer() }

    private init() throws {
        guard let bin = Self.findBinaries() else {
            throw Failure("PostgreSQL's server programs are not installed (scripts/install-deps.sh installs them)")
        }
        binaries = bin
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("credits-pg-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        runAs = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []
        if getuid() == 0 { _ = try Self.run(["/bin/chown", "-R", "postgres:postgres", directory]) }
        let data = directory + "/data"
        _ = try Self.run(runAs + ["\(bin)/initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])
        port = try Self.freePort()
        try start()
        try watchForExit()
    }

    /// Starts the server (again, after `stop`) on the same port and data.
    public func start() throws {
        let log = directory + "/server.log"
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/bin/sh")
        let command =
            (runAs + [
                "\(binaries)/postgres", "-D", directory + "/data", "-p", "\(port)", "-k", directory,
                "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200", "-c", "fsync=off",
                "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            ])
            .map { "'\($0)'" }.joined(separator: " ")
        server.arguments = ["-c", "exec \(command) >>'\(log)' 2>&1"]
        try server.run()
        try waitUntilReady(log: log)
    }

    /// Stops the server by its PID (fast shutdown: open sessions are ended) and waits for it.
    public func stop() throws {
        guard let pid else { throw Failure("no postmaster.pid: the server is not running") }
        kill(pid, SIGINT)
        while kill(pid, 0) == 0 { usleep(50_000) }
    }

    /// A new, empty database; returns its `postgres://` URL.
    public func makeDatabase(_ prefix: String = "credits") throws -> String {
        let name = "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try Self.run([
            "\(binaries)/psql", "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-q",
            "-c", "CREATE DATABASE \(name)",
        ])
        return url(database: name)
    }

    public func url(database: String) -> String { "postgres://postgres@127.0.0.1:\(port)/\(database)" }

    /// Runs SQL with psql and returns what it printed (unaligned, tuples only).
    public func psql(_ database: String, _ sql: String) throws -> String {
        try Self.run([
            "\(binaries)/psql", "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", database,
            "-At", "-v", "ON_ERROR_STOP=1", "-c", sql,
        ])
    }

    /// Starts psql with `sql` and returns without waiting for it (to hold a lock, say).
    public func psqlInBackground(_ database: String, _ sql: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(binaries)/psql")
        process.arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", database, "-q", "-c", sql]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// The server's PID, from its `postmaster.pid`.
    public var pid: Int32? {
        guard let text = try? String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first.flatMap { Int32($0) }
    }

    private func waitUntilReady(log: String) throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? Self.run(["\(binaries)/pg_isready", "-q", "-h", "127.0.0.1", "-p", "\(port)"])) != nil { return }
            usleep(100_000)
        }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw Failure("PostgreSQL did not start within 30 s on port \(port): \(text.suffix(2_000))")
    }

    /// A watcher outlives this process by at most a second, then stops the server by its PID and
    /// removes the directory.
    private func watchForExit() throws {
        guard pid != nil else { throw Failure("PostgreSQL started but wrote no postmaster.pid") }
        let watcher = Process()
        watcher.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The PID is read at exit: the server may have been stopped and started again meanwhile.
        watcher.arguments = [
            "-c",
            """
            while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done
            if [ -f '\(directory)/data/postmaster.pid' ]; then
                pid=$(head -1 '\(directory)/data/postmaster.pid')
                kill -INT "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
            fi
            rm -rf '\(directory)'
            """,
        ]
        watcher.standardOutput = FileHandle.nullDevice
        watcher.standardError = FileHandle.nullDevice
        try watcher.run()
    }

    private static func findBinaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.compactMap(Int.init).sorted().reversed().map { "\(root)/\($0)/bin" }
            .first { FileManager.default.isExecutableFile(atPath: "\($0)/postgres") }
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw Failure("no free loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.currentDirectoryURL = URL(fileURLWithPath: "/tmp")
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw Failure("\(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(text)")
        }
        return text
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
