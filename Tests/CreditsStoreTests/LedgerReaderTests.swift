import CreditsCore
import CreditsTestSupport
import Foundation
import Testing

@testable import CreditsStore

@Suite("Reading the store: usage buckets and verify")
struct LedgerReaderTests {
    typealias J = JSONInputs

    func enabledFixture() throws -> StoreFixture {
        let fixture = try StoreFixture()
        try fixture.apply([
            fixture.message(.command, J.command("on", "enable_credits", #""settings":{"price_per_minute":"60"}"#)),
            fixture.message(.command, J.command("add", "add_credits", #""amount":"1000","note":"n""#)),
        ])
        return fixture
    }

    func usage(_ id: String, at time: String, _ fields: String) -> String {
        #"{"event_id":"\#(id)","customer_id":"cus_1","occurred_at":"\#(time)",\#(fields)}"#
    }

    @Test("usage buckets count every used entry by occurred_at, also one stamped later than it was recorded")
    func occurredAfterRecorded() throws {
        let fixture = try enabledFixture()
        // Recorded at t0 (2026-11-24T10:00Z); the upstream clock ran two days ahead.
        try fixture.apply([
            fixture.message(.usage, usage("ahead", at: "2026-11-26T10:30:00Z", #""call_seconds":60"#)),
            fixture.message(.usage, usage("behind", at: "2026-11-20T08:00:00Z", #""call_seconds":120"#)),
        ])
        let reader = try fixture.reader()
        let ahead =
            try reader.usage(
                "cus_1", from: Timestamp(rfc3339: "2026-11-26T00:00:00Z")!,
                to: Timestamp(rfc3339: "2026-11-27T00:00:00Z")!, bucketMilliseconds: 3_600_000, scanLimit: 10_000) ?? []
        #expect(ahead.map(\.start.description) == ["2026-11-26T10:00:00.000Z"])
        #expect(ahead.map(\.total.description) == ["60"])
        let week =
            try reader.usage(
                "cus_1", from: Timestamp(rfc3339: "2026-11-20T00:00:00Z")!,
                to: Timestamp(rfc3339: "2026-11-27T00:00:00Z")!, bucketMilliseconds: 86_400_000, scanLimit: 10_000) ?? []
        #expect(week.map(\.events) == [1, 1])
        #expect(week.map(\.call.description) == ["120", "60"])
        #expect(
            try reader.usage("nobody", from: t0, to: t0.adding(seconds: 60), bucketMilliseconds: 60_000, scanLimit: 10_000) ?? []
                == [])
    }

    @Test("a bucket whose sum leaves the range of an amount is an error, not a trap")
    func usageOverflow() throws {
        let fixture = try StoreFixture()
        try fixture.apply([
            fixture.message(.command, J.command("on", "enable_credits", #""settings":{"tool_call_price":"10000000"}"#))
        ])
        // Each round adds 1e12 credits and uses them again: the balance stays in range, usage grows.
        for round in 0..<10 {
            try fixture.apply([
                fixture.message(.command, J.command("add-\(round)", "add_credits", #""amount":"1000000000000","note":"n""#)),
                fixture.message(.usage, J.usage("u-\(round)", #""tool_calls":100000"#)),
            ])
        }
        #expect(try fixture.store.account("cus_1")?.lastEntryID == 20)
        do {
            _ = try fixture.reader().usage(
                "cus_1", from: t0.adding(seconds: -3600), to: t0.adding(seconds: 3600),
                bucketMilliseconds: 86_400_000, scanLimit: 10_000)
            Issue.record("an overflowing sum was returned")
        } catch {
            #expect((error as? StoreError)?.code == StoreError.amountOutOfRangeCode)
        }
    }

    @Test("verify reads one snapshot: no false mismatches while the writer keeps committing")
    func verifyWhileWriting() async throws {
        let fixture = try enabledFixture()
        let path = fixture.path
        let writer = Task.detached {
            for round in 0..<300 {
                try fixture.apply((0..<40).map { fixture.message(.usage, J.usage("w-\(round)-\($0)", #""tool_calls":1"#)) })
            }
        }
        let reader = try LedgerReader(path: path)
        var checks = 0
        var problems: [String] = []
        while checks < 2_000 {
            problems += try reader.verify().problems
            checks += 1
            if checks > 20, try reader.account("cus_1")?.lastEntryID ?? 0 >= 12_001 { break }
        }
        try await writer.value
        #expect(problems == [])
        #expect(try reader.verify() == VerificationReport(customers: 1, entries: 12_001, problems: []))
    }
}
