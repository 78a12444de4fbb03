import CreditsCore
import CreditsStore
import Foundation
import Testing

/// Inputs written to hurt: they are dead-lettered with a clear code, their dead letters stay small
/// and storable, and the input after them is applied, on both backends.
@Suite("Hostile inputs")
struct HostileInputTests {
    typealias J = JSONInputs

    func enabled(_ backend: Backend) throws -> BackendFixture { try BackendFixture.enabled(backend) }

    @Test(
        "a NUL character in an id is dead-lettered (PostgreSQL's text cannot hold it); the next usage applies",
        arguments: Backend.allCases)
    func nulCharacter(backend: Backend) throws {
        let fixture = try enabled(backend)
        let report = try fixture.apply([
            fixture.message(.usage, J.usage(#"a\u0000b"#, #""tool_calls":1"#)),
            fixture.message(.command, J.command(#"c\u0000"#, "add_credits", #""amount":"1","note":"n""#)),
            fixture.message(.usage, J.usage("after", #""call_seconds":60"#)),
        ])
        #expect(report.deadLettered[.invalidUsage] == 1)
        #expect(report.deadLettered[.invalidCommand] == 1)
        #expect(try fixture.balance("cus_1") == "40")
        let letters = try fixture.outbox(.deadLetter)
        #expect(letters.first?["error"]?["message"]?.text == "event_id: must not contain the NUL character (U+0000)")
    }

    @Test("an id of one grapheme and 5 000 combining marks counts 5 001 characters and is refused", arguments: Backend.allCases)
    func combiningMarks(backend: Backend) throws {
        let fixture = try enabled(backend)
        let id = "e" + String(repeating: "\u{301}", count: 5_000)
        #expect(id.count == 1, "Swift counts it as one character")
        let report = try fixture.apply([fixture.message(.usage, J.usage(id, #""tool_calls":1"#))])
        #expect(report.deadLettered[.invalidUsage] == 1)
        #expect(try fixture.outbox(.deadLetter).first?["error"]?["message"]?.text == "event_id: must be 1-200 characters long")
    }

    @Test("a 400 KB key with a NUL: the dead letter keeps 1 KiB of it, stores, and names its size", arguments: Backend.allCases)
    func hugeKey(backend: Backend) throws {
        let fixture = try enabled(backend)
        let key = "k\u{0}" + String(repeating: "x", count: 400_000)
        let report = try fixture.apply([
            fixture.message(.usage, J.usage("u1", #""tool_calls":1"#), key: key),
            fixture.message(.usage, J.usage("u2", #""call_seconds":60"#), key: "cus_1"),
        ])
        #expect(report.deadLettered[.keyMismatch] == 1)
        #expect(try fixture.balance("cus_1") == "40")
        let records = try fixture.writer.pendingOutbox(after: 0, limit: 1_000).filter { $0.message.topic == .deadLetter }
        let message = try #require(records.first?.message)
        #expect(message.key.utf8.count <= DeadLetter.maximumKeyBytes && message.key.hasPrefix("k\u{FFFD}x"))
        #expect(message.value.utf8.count < 8_000, "the dead letter is \(message.value.utf8.count) bytes")
        let letter = try #require(try fixture.outbox(.deadLetter).first)
        #expect(letter["key_truncated"] == .bool(true))
        #expect(letter["key_bytes"]?.text == "\(key.utf8.count)")
    }

    @Test("ids equal as Swift strings but not as bytes are two keys, in one batch as in two", arguments: Backend.allCases)
    func canonicalEquivalence(backend: Backend) throws {
        let composed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        #expect(composed == decomposed, "Swift compares strings by canonical equivalence")
        let together = try enabled(backend)
        let one = try together.apply([
            together.message(.usage, J.usage(composed, #""call_seconds":60"#)),
            together.message(.usage, J.usage(decomposed, #""call_seconds":60"#)),
        ])
        let apart = try enabled(backend)
        try apart.apply([apart.message(.usage, J.usage(composed, #""call_seconds":60"#))])
        let two = try apart.apply([apart.message(.usage, J.usage(decomposed, #""call_seconds":60"#))])
        #expect(one.duplicates == 0 && two.duplicates == 0)
        #expect(try together.balance("cus_1") == "-20")
        #expect(try apart.balance("cus_1") == "-20")
    }

    @Test(
        "a usage read over more used entries than its scan limit answers nil, not an unbounded scan", arguments: Backend.allCases)
    func usageScanLimit(backend: Backend) throws {
        let fixture = try enabled(backend)
        try fixture.apply((1...3).map { fixture.message(.usage, J.usage("u\($0)", #""call_seconds":1"#)) })
        let reader = try fixture.reader()
        let from = Timestamp(rfc3339: "2026-11-01T00:00:00Z")!
        let to = Timestamp(rfc3339: "2026-12-01T00:00:00Z")!
        let within = try reader.snapshot { () throws(StoreError) in
            try reader.usage("cus_1", from: from, to: to, bucketMilliseconds: 86_400_000, scanLimit: 3)
        }
        #expect(within?.first?.events == 3)
        let beyond = try reader.snapshot { () throws(StoreError) in
            try reader.usage("cus_1", from: from, to: to, bucketMilliseconds: 86_400_000, scanLimit: 2)
        }
        #expect(beyond == nil)
    }
}
