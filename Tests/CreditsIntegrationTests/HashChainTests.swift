import CreditsCore
import Foundation
import Testing

/// The verifiable history against a second, independent implementation: Python's hashlib in
/// `scripts/verify-chain.py`, and the worked example of docs/contract.md.
@Suite("The hash chain, recomputed independently")
struct HashChainTests {
    static let root = SchemaValidator.root

    /// The worked example's rows (`| 1 | `cus_123`, `1`, ... |`) and the hashes the text gives.
    func workedExample() throws -> (entries: [LedgerEntry], hashes: [String]) {
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/contract.md"), encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## Verifiable history").last)
        var entries: [LedgerEntry] = []
        for line in section.split(separator: "\n") where line.hasPrefix("| 1 |") || line.hasPrefix("| 2 |") {
            let fields = line.split(separator: "|")[1].split(separator: "`").enumerated().filter { $0.offset % 2 == 1 }
                .map { String($0.element) }
            try #require(fields.count == 9, "\(line)")
            entries.append(
                LedgerEntry(
                    customerID: fields[0], entryID: Int64(fields[1]) ?? 0, kind: LedgerEntry.Kind(rawValue: fields[2]) ?? .used,
                    amount: try CreditAmount(parsing: fields[3]), balance: try CreditAmount(parsing: fields[4]),
                    note: fields[7], source: fields[5] == "usage" ? .usage(eventID: fields[6]) : .command(commandID: fields[6]),
                    occurredAt: Timestamp(rfc3339: fields[8])!, recordedAt: Timestamp(rfc3339: fields[8])!))
        }
        let hashes = section.matches(of: /its hash `([0-9a-f]{64})`/).map { String($0.output.1) }
        return (entries, hashes)
    }

    @Test("the worked example of docs/contract.md: the ledger's hashes are the ones written there")
    func documentedExample() throws {
        let (entries, hashes) = try workedExample()
        #expect(entries.count == 2 && hashes.count == 2)
        let first = EntryHash.of(entries[0], previous: EntryHash.genesis)
        #expect(first.description == hashes.first)
        #expect(EntryHash.of(entries[1], previous: first).description == hashes.last)
        #expect(ChainHash(hex: hashes[0]) == first && ChainHash(bytes: first.bytes) == first)
        let bytes = String(decoding: EntryHash.preimage(of: entries[0], previous: EntryHash.genesis), as: UTF8.self)
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/contract.md"), encoding: .utf8)
        #expect(text.contains("\n" + bytes + "\n"), "the documented bytes of entry 1")
    }

    @Test("Python's hashlib recomputes the ledger's chain; an edited event is named")
    func python() async throws {
        let ledger = Ledger()
        var accounts = ["cus_a": CustomerAccount.new("cus_a"), "cus_b": CustomerAccount.new("cus_b")]
        var lines: [String] = []
        var now = Timestamp(rfc3339: "2026-11-24T10:00:00.250Z")!
        func command(_ customer: String, _ id: String, _ action: AdminCommand.Action) {
            let transition = ledger.apply(
                AdminCommand(
                    commandID: id, customerID: accounts[customer]!.customerID, issuedAt: now, actor: "ops", action: action),
                to: accounts[customer]!, at: now)
            accounts[customer] = transition.account
            lines += transition.entries.map(\.json)
        }
        for customer in accounts.keys.sorted() {
            command(customer, "en", .enableCredits(SettingsChange(pricePerMinute: .some(CreditAmount(credits: 3)))))
            command(customer, "add", .addCredits(amount: CreditAmount(micros: 12_345_678), note: "Crédits « test » \"quoted\""))
            command(
                customer, "exp",
                .addCredits(amount: CreditAmount(credits: 5), note: "expiring", expiresAt: now.adding(seconds: 30)))
        }
        for step in 0..<20 {
            now = now.adding(seconds: 7)
            for customer in accounts.keys.sorted() {
                let usage = UsageEvent(
                    eventID: "u\(step)", customerID: accounts[customer]!.customerID, occurredAt: now, callID: "c\(step)",
                    callSeconds: Int64(step * 3 + 1), aiCosts: nil, toolCalls: Int64(step % 3))
                let transition = try ledger.apply(usage, to: accounts[customer]!, at: now)
                accounts[customer] = transition.account
                lines += transition.entries.map(\.json)
            }
        }
        #expect(lines.contains { $0.contains(#""type":"expired""#) })
        let ok = try await runOffThePool(
            ["python3", "scripts/verify-chain.py"], directory: Self.root, input: lines.joined(separator: "\n"))
        #expect(ok.status == 0 && ok.report.hasPrefix("ok: \(lines.count) entries of 2 customers"), "\(ok.report)")
        var edited = lines
        edited[9] = edited[9].replacingOccurrences(of: #""amount":"-"#, with: #""amount":"-1"#)
        #expect(edited[9] != lines[9])
        let caught = try await runOffThePool(
            ["python3", "scripts/verify-chain.py"], directory: Self.root, input: edited.joined(separator: "\n"))
        let match = try #require(edited[9].firstMatch(of: /"entry_id":(\d+)/))
        let entryID = String(match.output.1)
        #expect(caught.status == 1 && caught.report.contains("entry \(entryID) has hash"), "\(caught.report)")
    }
}
