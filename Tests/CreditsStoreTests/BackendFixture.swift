import CreditsCore
import CreditsPostgres
import CreditsStore
import CreditsTestSupport
import Foundation
import Logging
import Testing

@testable import CreditsStore

/// The two store backends, for suites that must hold on both.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { self == .sqlite ? "SQLite" : "PostgreSQL" }
}

/// A fresh store of either backend (an SQLite file in a temporary folder, or a new database on the
/// test process's PostgreSQL server), written through `LedgerWriter` and read through
/// `LedgerReading`, as the service does.
final class BackendFixture {
    let backend: Backend
    let ledger: Ledger
    private(set) var writer: any LedgerWriter
    private let directory: URL?
    private let location: String
    private var offsets: [TopicPartition: Int64] = [:]
    static let partitions = [0, 1].flatMap { number in
        ["credits.usage", "credits.commands"].map { TopicPartition(topic: $0, partition: Int32(number)) }
    }

    init(_ backend: Backend, ledger: Ledger = Ledger()) throws {
        self.backend = backend
        self.ledger = ledger
        switch backend {
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("credits-store-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            directory = folder
            location = folder.appendingPathComponent("ledger.sqlite").path
        case .postgres:
            directory = nil
            location = try PostgresServer.shared().makeDatabase("store")
        }
        writer = try Self.open(backend, location, ledger)
        _ = try writer.own(Self.partitions)
    }

    deinit {
        writer.close()
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// A fresh store with cus_1 enabled (60 credits a minute) and 100 credits added.
    static func enabled(_ backend: Backend) throws -> BackendFixture {
        let fixture = try BackendFixture(backend)
        try fixture.apply([
            fixture.message(.command, JSONInputs.command("enable", "enable_credits", #""settings":{"price_per_minute":"60"}"#)),
            fixture.message(.command, JSONInputs.command("add", "add_credits", #""amount":"100","note":"Monthly""#)),
        ])
        return fixture
    }

    /// Another writer on the same store (PostgreSQL: another instance; SQLite refuses it).
    func secondWriter() throws -> any LedgerWriter { try Self.open(backend, location, ledger) }

    /// Closes and reopens the store, as after a restart.
    func reopen() throws {
        writer.close()
        writer = try Self.open(backend, location, ledger)
        _ = try writer.own(Self.partitions)
    }

    /// Changes the store behind the ledger's back, as an intruder or a bad script would.
    func tamper(_ sql: String) throws {
        switch backend {
        case .sqlite: try SQLiteConnection(path: location).execute(sql)
        case .postgres:
            let database = String(location.split(separator: "/").last ?? "")
            _ = try PostgresServer.shared().psql(database, sql)
        }
    }

    func reader() throws -> any LedgerReading {
        switch backend {
        case .sqlite: try LedgerReader(path: location)
        case .postgres: PostgresLedgerReader(url: try PostgresStoreURL(location), logger: Self.logger)
        }
    }

    /// A message on `topic` `partition` with that partition's next offset.
    func message(_ kind: InputKind, _ json: String, key: String? = nil, partition: Int32 = 0) -> InboundMessage {
        let topic = kind == .usage ? "credits.usage" : "credits.commands"
        let position = TopicPartition(topic: topic, partition: partition)
        let offset = offsets[position, default: 0]
        offsets[position] = offset + 1
        return inboundMessage(kind, json, key: key, partition: partition, offset: offset)
    }

    @discardableResult
    func apply(_ messages: [InboundMessage], at now: Timestamp = t0) throws -> BatchReport {
        try writer.apply(messages, at: now)
    }

    func balance(_ customer: String) throws -> String? {
        let reader = try reader()
        return try reader.snapshot { () throws(StoreError) in try reader.account(customer)?.balance.description }
    }

    /// Every pending outbox message of `topic`, decoded as JSON objects.
    func outbox(_ topic: OutputTopic) throws -> [[String: JSONValue]] {
        try writer.pendingOutbox(after: 0, limit: 1_000_000).filter { $0.message.topic == topic }.map {
            guard case .object(let fields) = try JSONParser.parse(Array($0.message.value.utf8)) else {
                throw FixtureError("outbox value is not an object")
            }
            return fields
        }
    }

    static let logger = Logger(label: "credits.tests.store")

    private static func open(_ backend: Backend, _ location: String, _ ledger: Ledger) throws -> any LedgerWriter {
        switch backend {
        case .sqlite: try LedgerStore(path: location, ledger: ledger)
        case .postgres: try PostgresLedgerStore(url: try PostgresStoreURL(location), ledger: ledger, logger: logger)
        }
    }
}
