import CreditsCore
import CreditsStore
import CreditsTestSupport
import Foundation

/// A fresh store file in a temporary folder, removed at deinit.
final class StoreFixture {
    let directory: URL
    let path: String
    private(set) var store: LedgerStore
    let ledger: Ledger
    let options: LedgerStore.Options
    var offset: Int64 = 0

    init(ledger: Ledger = Ledger(), options: LedgerStore.Options = LedgerStore.Options()) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("credits-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent("ledger.sqlite").path
        self.ledger = ledger
        self.options = options
        store = try LedgerStore(path: path, ledger: ledger, options: options)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Closes and reopens the file, as after a restart.
    func reopen(options: LedgerStore.Options? = nil) throws {
        store.close()
        store = try LedgerStore(path: path, ledger: ledger, options: options ?? self.options)
    }

    func reader() throws -> LedgerReader { try LedgerReader(path: path) }

    /// A message on `topic` partition 0 with the next offset.
    func message(_ kind: InputKind, _ json: String, key: String? = nil, partition: Int32 = 0) -> InboundMessage {
        defer { offset += 1 }
        return inboundMessage(kind, json, key: key, partition: partition, offset: offset)
    }

    @discardableResult
    func apply(_ messages: [InboundMessage], at now: Timestamp = t0) throws -> BatchReport {
        try store.apply(messages, at: now)
    }

    /// Every outbox message, decoded as JSON objects, per topic.
    func outbox(_ topic: OutputTopic) throws -> [[String: JSONValue]] {
        try store.pendingOutbox(limit: 1_000_000).filter { $0.message.topic == topic }.map {
            guard case .object(let fields) = try JSONParser.parse(Array($0.message.value.utf8)) else {
                throw FixtureError("outbox value is not an object")
            }
            return fields
        }
    }
}

/// A decoded input as the pipeline hands it to a store, on `credits.usage` or `credits.commands`.
func inboundMessage(_ kind: InputKind, _ json: String, key: String?, partition: Int32, offset: Int64) -> InboundMessage {
    let topic = kind == .usage ? "credits.usage" : "credits.commands"
    let payload = Array(json.utf8)
    return InboundMessage(
        origin: MessageOrigin(topic: topic, partition: partition, offset: offset, key: key, payload: payload),
        input: InputDecoder.decode(kind, key: key, payload: payload))
}

struct FixtureError: Error {
    let text: String
    init(_ text: String) { self.text = text }
}

let t0 = Timestamp(rfc3339: "2026-11-24T10:00:00Z")!

enum JSONInputs {
    static func command(_ id: String, _ type: String, _ extra: String = "", customer: String = "cus_1") -> String {
        #"{"command_id":"\#(id)","customer_id":"\#(customer)","issued_at":"2026-11-24T10:00:00Z","actor":"ops","type":"\#(type)""#
            + (extra.isEmpty ? "" : ",\(extra)") + "}"
    }

    static func usage(_ id: String, _ fields: String, customer: String = "cus_1") -> String {
        #"{"event_id":"\#(id)","customer_id":"\#(customer)","occurred_at":"2026-11-24T10:00:00Z",\#(fields)}"#
    }
}
