import CreditsCore
import CreditsTestSupport
import Foundation
import Testing

@testable import CreditsStore

@Suite("SQLite ledger store")
struct LedgerStoreTests {
    typealias J = JSONInputs

    func enabledFixture(_ settings: String = #""price_per_minute":"60""#) throws -> StoreFixture {
        let fixture = try StoreFixture()
        try fixture.apply([
            fixture.message(.command, J.command("enable", "enable_credits", #""settings":{\#(settings)}"#)),
            fixture.message(.command, J.command("add", "add_credits", #""amount":"100","note":"Monthly""#)),
        ])
        return fixture
    }

    @Test("a batch returns its outbox messages in order, ready to produce")
    func batchOutbox() throws {
        let fixture = try enabledFixture()
        let report = try fixture.apply([fixture.message(.usage, J.usage("u1", #""call_seconds":6000"#))])
        #expect(report.outbox.map(\.message.topic) == [.balanceChanged, .blocks])
        #expect(report.changedAccounts == ["cus_1"])
        // Read back: the rows, then the state rebuilt from them (same message).
        let stored = try fixture.store.pendingOutbox().suffix(3)
        #expect(stored.map(\.seq) == report.outbox.map(\.seq) + [report.outbox.last!.seq])
        let sent =
            report.outbox.map(\.message)
            + (try fixture.store.accountStates(of: report.changedAccounts)).map { OutputEvent.account($0).message }
        #expect(stored.map(\.message) == sent, "read back from the outbox, byte for byte")
    }

    @Test("a large batch's messages, encoded while it commits, are the ones its rows give, in order")
    func largeBatchOutbox() throws {
        let fixture = try enabledFixture()
        let count = LedgerStore.Options().earlyEncodingMinimum + 44
        let report = try fixture.apply(
            (0..<count).map { fixture.message(.usage, J.usage("u\($0)", #""call_seconds":\#($0 % 7 + 1)"#)) })
        #expect(report.outbox.count >= count)
        let seqs = Set(report.outbox.map(\.seq))
        let stored = try fixture.store.pendingOutbox(limit: 100_000).filter { $0.isStored && seqs.contains($0.seq) }
        #expect(stored.map(\.seq) == report.outbox.map(\.seq))
        #expect(stored.map(\.message) == report.outbox.map(\.message), "read back from the outbox, byte for byte")
    }

    @Test("a batch records entries, balance, outbox and offsets together")
    func batch() throws {
        let fixture = try enabledFixture()
        let report = try fixture.apply([
            fixture.message(.usage, J.usage("u1", #""call_seconds":30"#)),
            fixture.message(.usage, J.usage("u2", #""tool_calls":3"#)),
        ])
        #expect(report.applied == 2 && report.entries == 2)
        #expect(report.nextOffsets == [TopicPartition(topic: "credits.usage", partition: 0): 4])
        let account = try #require(try fixture.store.account("cus_1"))
        #expect(account.balance.description == "69.91")
        #expect(account.lastEntryID == 3)
        #expect(try fixture.store.consumedOffsets()[TopicPartition(topic: "credits.usage", partition: 0)] == 4)
        #expect(try fixture.store.consumedOffsets()[TopicPartition(topic: "credits.commands", partition: 0)] == 2)
        let changes = try fixture.outbox(.balanceChanged)
        #expect(changes.map { $0["balance"]?.text } == ["100", "70", "69.91"])
        #expect(changes.map { $0["entry_id"]?.text } == ["1", "2", "3"])
        let entries = try fixture.reader().entries("cus_1").entries
        #expect(entries.map(\.entryID) == [3, 2, 1])
        #expect(entries[0].breakdown?.toolCalls.description == "0.09")
    }

    @Test("a repeated event_id is applied once, in the same batch and across batches")
    func duplicateUsage() throws {
        let fixture = try enabledFixture()
        let usage = J.usage("u1", #""call_seconds":60"#)
        let first = try fixture.apply([fixture.message(.usage, usage), fixture.message(.usage, usage)])
        let second = try fixture.apply([fixture.message(.usage, usage)])
        #expect(first.duplicates == 1 && second.duplicates == 1)
        #expect(try fixture.store.account("cus_1")?.balance.description == "40")
        #expect(try fixture.outbox(.deadLetter).isEmpty)
    }

    @Test("the same event_id for another customer is a different event")
    func keysPerCustomer() throws {
        let fixture = try enabledFixture()
        try fixture.apply([
            fixture.message(.command, J.command("e2", "enable_credits", customer: "cus_2")),
            fixture.message(.usage, J.usage("u1", #""tool_calls":1"#)),
            fixture.message(.usage, J.usage("u1", #""tool_calls":1"#, customer: "cus_2")),
        ])
        #expect(try fixture.store.account("cus_2")?.balance.description == "-0.03")
        #expect(try fixture.store.account("cus_1")?.balance.description == "99.97")
    }

    @Test("a repeated event_id with other fields is dead-lettered as conflicting_duplicate")
    func conflictingUsage() throws {
        let fixture = try enabledFixture()
        try fixture.apply([fixture.message(.usage, J.usage("u1", #""call_seconds":60"#))])
        let report = try fixture.apply([fixture.message(.usage, J.usage("u1", #""call_seconds":61"#))])
        #expect(report.deadLettered == [.conflictingDuplicate: 1])
        #expect(report.byTopic == ["credits.usage": .init(applied: 0, duplicates: 0, deadLettered: [.conflictingDuplicate: 1])])
        let letter = try #require(try fixture.outbox(.deadLetter).first)
        guard case .object(let error) = letter["error"] else {
            Issue.record("no error")
            return
        }
        #expect(error["code"]?.text == "conflicting_duplicate")
        #expect(letter["offset"]?.text == "3")
        #expect(letter["source_topic"]?.text == "credits.usage")
        #expect(try fixture.store.account("cus_1")?.balance.description == "40")
    }

    @Test("repeats whose fields differ only where the old 64-bit fingerprint collided are conflicting, not duplicates")
    func separatorCollisionsAreConflicts() throws {
        let fixture = try enabledFixture()
        let first =
            #"{"command_id":"c1","customer_id":"cus_1","issued_at":"2026-11-24T10:00:00Z","actor":"a\u001Fadd:5","type":"add_credits","amount":"5","note":"n"}"#
        let second =
            #"{"command_id":"c1","customer_id":"cus_1","issued_at":"2026-11-24T10:00:00Z","actor":"a","type":"add_credits","amount":"5","note":"add:5\u001Fn"}"#
        try fixture.apply([fixture.message(.command, first)])
        let report = try fixture.apply([fixture.message(.command, second)])
        #expect(report.deadLettered == [.conflictingDuplicate: 1])
        #expect(report.duplicates == 0)

        try fixture.apply([fixture.message(.usage, J.usage("u1", #""call_id":"-","call_seconds":60"#))])
        let usage = try fixture.apply([fixture.message(.usage, J.usage("u1", #""call_seconds":60"#))])
        #expect(usage.deadLettered == [.conflictingDuplicate: 1])
        #expect(try fixture.store.account("cus_1")?.balance.description == "45")
    }

    @Test("a key recorded before digests existed is still compared, by its old fingerprint")
    func legacyKeysStillCompared() throws {
        let fixture = try enabledFixture()
        let usage = J.usage("u1", #""call_seconds":60"#)
        try fixture.apply([fixture.message(.usage, usage)])
        // Make the key look like one written before migration 003: no digest, the old fingerprint.
        guard case .usage(let event) = InputDecoder.decode(.usage, key: nil, payload: Array(usage.utf8)) else {
            Issue.record("not usage")
            return
        }
        try rawSQL(
            fixture.path, "UPDATE idempotency_keys SET digest = NULL, fingerprint = \(event.legacyFingerprint) WHERE key = 'u1'")
        try fixture.reopen()
        let repeated = try fixture.apply([fixture.message(.usage, usage)])
        #expect(repeated.duplicates == 1)
        let conflicting = try fixture.apply([fixture.message(.usage, J.usage("u1", #""call_seconds":61"#))])
        #expect(conflicting.deadLettered == [.conflictingDuplicate: 1])
        #expect(try fixture.store.account("cus_1")?.balance.description == "40")
    }

    @Test("committed batches are durable by default: the write connection syncs every commit (synchronous=FULL)")
    func durableByDefault() throws {
        let fixture = try StoreFixture()
        let mode = try fixture.store.connection.statement("PRAGMA synchronous").firstRow { $0.int64(0) }
        #expect(mode == 2, "2 is FULL, 1 NORMAL")
        var options = LedgerStore.Options()
        options.synchronousFull = false
        let relaxed = try LedgerStore(path: fixture.path + "-normal", ledger: Ledger(), options: options)
        #expect(try relaxed.connection.statement("PRAGMA synchronous").firstRow { $0.int64(0) } == 1)
    }

    @Test("a grace period started by enabling at balance 0 survives reopening and blocks under the command's name")
    func enablingGraceSurvivesReopen() throws {
        let fixture = try StoreFixture()
        try fixture.apply([
            fixture.message(.command, J.command("on", "enable_credits", #""settings":{"grace_period_seconds":60}"#))
        ])
        try fixture.reopen()
        #expect(
            try fixture.store.account("cus_1")?.blockState
                == .grace(blockAt: t0.adding(seconds: 60), depletedBy: .enabling(commandID: "on")))
        try fixture.store.fireDueDeadlines(at: t0.adding(seconds: 60))
        #expect(
            try fixture.outbox(.blocks).map { $0["event_id"]?.text } == ["cus_1/command:on/depleted", "cus_1/command:on/blocked"])
        try fixture.reopen()
        #expect(try fixture.store.account("cus_1")?.blockState == .blocked(depletedBy: .enabling(commandID: "on")))
    }

    @Test("one writer per store file: a second store on the same file is refused, naming the file and the holder's PID")
    func oneWriterPerFile() throws {
        let fixture = try StoreFixture()
        do {
            _ = try LedgerStore(path: fixture.path, ledger: Ledger())
            Issue.record("a second writer opened the store")
        } catch {
            #expect(error.message.contains(fixture.path))
            #expect(error.message.contains("PID \(getpid())"))
        }
        fixture.store.close()
        _ = try LedgerStore(path: fixture.path, ledger: Ledger())  // free again
    }

    @Test("a repeated command answers duplicate with the first outcome and changes nothing")
    func duplicateCommand() throws {
        let fixture = try enabledFixture()
        let add = J.command("add", "add_credits", #""amount":"100","note":"Monthly""#)
        try fixture.apply([fixture.message(.command, add)])
        let results = try fixture.outbox(.commandResults)
        #expect(results.map { $0["status"]?.text } == ["applied", "applied", "duplicate"])
        #expect(results[2]["original_status"]?.text == "applied")
        #expect(results[2]["entry_id"]?.text == "1")
        #expect(try fixture.store.account("cus_1")?.balance.description == "100")

        let refused = J.command("d1", "deduct_credits", #""amount":"500","reason":"refund","note":"n""#)
        try fixture.apply([fixture.message(.command, refused), fixture.message(.command, refused)])
        let more = try fixture.outbox(.commandResults).suffix(2)
        #expect(more.map { $0["status"]?.text } == ["rejected", "duplicate"])
        #expect(more.last?["original_status"]?.text == "rejected")
        #expect(more.last?["reason"]?.text == "insufficient_balance")
    }

    @Test("a conflicting command is dead-lettered and rejected")
    func conflictingCommand() throws {
        let fixture = try enabledFixture()
        try fixture.apply([fixture.message(.command, J.command("add", "add_credits", #""amount":"5","note":"Monthly""#))])
        let result = try #require(try fixture.outbox(.commandResults).last)
        #expect(result["status"]?.text == "rejected")
        #expect(result["reason"]?.text == "conflicting_duplicate")
        #expect(try fixture.outbox(.deadLetter).count == 1)
        #expect(try fixture.store.account("cus_1")?.balance.description == "100")
    }

    @Test(
        "invalid inputs are dead-lettered with their code; commands also get a rejected result",
        arguments: [
            (InputKind.usage, "not json", ReasonCode.invalidJSON, false),
            (.usage, #"{"event_id":"e","customer_id":"cus_1","occurred_at":"2026-11-24T10:00:00Z"}"#, .invalidUsage, false),
            (
                .command, #"{"command_id":"c9","customer_id":"cus_1","issued_at":"2026-11-24T10:00:00Z","actor":"a","type":"x"}"#,
                .invalidCommand, true
            ),
            (.command, #"{"type":"x"}"#, .invalidCommand, false),
        ])
    func invalid(kind: InputKind, payload: String, code: ReasonCode, hasResult: Bool) throws {
        let fixture = try StoreFixture()
        let report = try fixture.apply([fixture.message(kind, payload)])
        #expect(report.deadLettered == [code: 1])
        let letter = try #require(try fixture.outbox(.deadLetter).first)
        #expect(letter["payload"]?.text == payload)
        #expect(try fixture.outbox(.commandResults).count == (hasResult ? 1 : 0))
        #expect(try fixture.store.consumedOffsets().values.first == 1)
    }

    @Test("key mismatch and too large")
    func keyAndSize() throws {
        let fixture = try StoreFixture()
        let usage = J.usage("u1", #""tool_calls":1"#)
        let big = J.usage("u2", #""tool_calls":1,"pad":"\#(String(repeating: "x", count: 70_000))""#)
        let report = try fixture.apply([fixture.message(.usage, usage, key: "cus_9"), fixture.message(.usage, big)])
        #expect(report.deadLettered == [.keyMismatch: 1, .tooLarge: 1])
        let letters = try fixture.outbox(.deadLetter)
        #expect(letters.first?["key"]?.text == "cus_9")
        #expect(letters.first?["payload_truncated"] == nil)
        // The echo of a too-large payload is cut to 64 KiB, so the dead letter fits a Kafka message.
        #expect(letters.last?["payload"]?.text?.utf8.count == 65_536)
        #expect(letters.last?["payload_truncated"] == .bool(true))
        #expect(letters.last?["payload_bytes"]?.text == String(big.utf8.count))
    }

    @Test("a usage charge beyond the range is dead-lettered and its event_id stays free")
    func outOfRange() throws {
        let fixture = try enabledFixture(#""price_per_minute":"1000000000000""#)
        let report = try fixture.apply([fixture.message(.usage, J.usage("u1", #""call_seconds":86400"#))])
        #expect(report.deadLettered == [.amountOutOfRange: 1])
        try fixture.apply([fixture.message(.usage, J.usage("u1", #""call_seconds":1"#))])
        #expect(try fixture.store.account("cus_1")?.lastEntryID == 2)
    }

    @Test("usage of a customer without credits makes no entry but is remembered")
    func disabledUsage() throws {
        let fixture = try StoreFixture()
        let usage = J.usage("u1", #""call_seconds":60"#)
        let report = try fixture.apply([fixture.message(.usage, usage)])
        #expect(report.usageNotCharged == 1)
        try fixture.apply([fixture.message(.command, J.command("on", "enable_credits"))])
        #expect(try fixture.apply([fixture.message(.usage, usage)]).duplicates == 1)
        #expect(try fixture.store.account("cus_1")?.lastEntryID == 0)
    }

    @Test("state, idempotency keys and grace deadlines survive reopening the file")
    func restart() throws {
        let fixture = try enabledFixture(#""price_per_minute":"60","grace_period_seconds":120"#)
        try fixture.apply([fixture.message(.usage, J.usage("u1", #""call_seconds":100"#))])
        #expect(try fixture.store.nextDeadline() == t0.adding(seconds: 120))
        try fixture.reopen()
        #expect(try fixture.store.nextDeadline() == t0.adding(seconds: 120))
        #expect(try fixture.apply([fixture.message(.usage, J.usage("u1", #""call_seconds":100"#))]).duplicates == 1)
        #expect(try fixture.store.fireDueDeadlines(at: t0.adding(seconds: 119)).deadlinesFired == 0)
        try fixture.reopen()
        let fired = try fixture.store.fireDueDeadlines(at: t0.adding(seconds: 120))
        #expect(fired.deadlinesFired == 1)
        #expect(fired.outbox.map(\.message.topic) == [.blocks])
        #expect(
            try fixture.store.accountStates(of: fired.changedAccounts).map(\.account.blockState) == [
                .blocked(depletedBy: .entry(2))
            ])
        #expect(try fixture.store.account("cus_1")?.blockState == .blocked(depletedBy: .entry(2)))
        #expect(try fixture.store.nextDeadline() == nil)
        // Enabling at 0 started a grace period that the first top-up ended; then the usage.
        #expect(try fixture.outbox(.blocks).map { $0["type"]?.text } == ["depleted", "unblocked", "depleted", "blocked"])
        try fixture.reopen()
        try fixture.apply([fixture.message(.command, J.command("top", "quick_buy", #""package":"1000","payment_ref":"p""#))])
        #expect(try fixture.store.account("cus_1")?.blockState == .active)
        #expect(try fixture.outbox(.blocks).last?["type"]?.text == "unblocked")
        #expect(try fixture.reader().verify().isClean)
    }

    @Test("delivered outbox messages are removed; sequence numbers keep growing after a restart")
    func outbox() throws {
        let fixture = try enabledFixture()
        let pending = try fixture.store.pendingOutbox()
        // The stored rows, then the account state rebuilt from them with the last row's seq.
        #expect(pending.map(\.seq) == Array(1...Int64(pending.count - 1)) + [Int64(pending.count - 1)])
        #expect(pending.map(\.isStored) == Array(repeating: true, count: pending.count - 1) + [false])
        try fixture.store.markDelivered(through: pending[1].seq)
        #expect(try fixture.store.pendingOutbox().first?.seq == 3)
        try fixture.store.markDelivered(through: pending.last!.seq)
        #expect(try fixture.store.outboxDepth() == 0)
        try fixture.reopen()
        try fixture.apply([fixture.message(.usage, J.usage("u9", #""tool_calls":1"#))])
        #expect(try fixture.store.pendingOutbox().first!.seq >= 1)
        #expect(try fixture.store.outboxDepth() == 1, "the entry (the account's new state has no row)")
        #expect(try fixture.store.pendingOutbox().map(\.message.topic) == [.balanceChanged, .accounts])
    }

    @Test("account states have no rows; after a restart they are rebuilt from the rows left, the same messages")
    func accountStatesRebuilt() throws {
        let fixture = try enabledFixture()
        try fixture.apply([
            fixture.message(
                .command, J.command("en2", "enable_credits", #""settings":{"price_per_minute":"1"}"#, customer: "cus_2")),
            fixture.message(.command, J.command("add2", "add_credits", #""amount":"5","note":"n""#, customer: "cus_2")),
            // Rejected (not enabled): a row about cus_3, whose account never changed.
            fixture.message(.command, J.command("add3", "add_credits", #""amount":"5","note":"n""#, customer: "cus_3")),
        ])
        try fixture.store.markDelivered(through: try fixture.store.pendingOutbox().last!.seq)
        let later = t0.adding(seconds: 90)
        let report = try fixture.apply(
            [
                fixture.message(.usage, J.usage("u1", #""call_seconds":30"#)),
                fixture.message(.usage, J.usage("u2", #""call_seconds":60"#, customer: "cus_2")),
                fixture.message(.usage, J.usage("u3", #""tool_calls":2"#)),
            ], at: later)
        // One state per changed customer, in order, with no row of its own.
        #expect(report.outbox.allSatisfy(\.isStored) && !report.outbox.contains { $0.message.topic == .accounts })
        let states = try fixture.store.accountStates(of: report.changedAccounts).map { OutputEvent.account($0).message }
        #expect(states.map(\.key) == ["cus_1", "cus_2"])
        // A crash before they were delivered: rebuilt from the rows still in the outbox.
        try fixture.reopen()
        let pending = try fixture.store.pendingOutbox()
        let rebuilt = pending.filter { !$0.isStored }
        #expect(pending.filter(\.isStored).map(\.message.topic) == [.balanceChanged, .balanceChanged, .balanceChanged])
        #expect(rebuilt.map(\.message.key) == ["cus_1", "cus_2"])
        #expect(rebuilt.allSatisfy { $0.seq == pending.last!.seq })
        #expect(rebuilt.map(\.message) == states, "the states sent again are the same messages")
        #expect(states.allSatisfy { $0.value.contains(#""updated_at":"\#(later)""#) })
        // Rows that name no customer (dead letters) or one whose account never changed rebuild nothing.
        try fixture.store.markDelivered(through: pending.last!.seq)
        try fixture.apply([
            fixture.message(.usage, "not json"),
            fixture.message(.command, J.command("add3b", "add_credits", #""amount":"5","note":"n""#, customer: "cus_3")),
        ])
        #expect(try fixture.store.pendingOutbox().map(\.message.topic) == [.deadLetter, .commandResults])
    }

    @Test("history paging and type filter, newest first")
    func history() throws {
        let fixture = try enabledFixture()
        try fixture.apply((1...5).map { fixture.message(.usage, J.usage("u\($0)", #""tool_calls":1"#)) })
        let reader = try fixture.reader()
        let first = try reader.entries("cus_1", limit: 2)
        #expect(first.entries.map(\.entryID) == [6, 5])
        let second = try reader.entries("cus_1", cursor: first.next, limit: 2)
        #expect(second.entries.map(\.entryID) == [4, 3])
        let last = try reader.entries("cus_1", cursor: second.next, limit: 2)
        #expect(last.entries.map(\.entryID) == [2, 1] && last.next == nil)
        #expect(try reader.entries("cus_1", kind: .added).entries.map(\.entryID) == [1])
        #expect(try reader.entries("nobody").entries.isEmpty)
        let buckets =
            try reader.usage("cus_1", from: t0, to: t0.adding(seconds: 3600), bucketMilliseconds: 3_600_000, scanLimit: 10_000)
            ?? []
        #expect(buckets.count == 1 && buckets[0].events == 5 && buckets[0].toolCalls.description == "0.15")
    }

    @Test("an online backup taken between batches is a consistent, complete copy")
    func backup() throws {
        let fixture = try enabledFixture()
        try fixture.apply((1...50).map { fixture.message(.usage, J.usage("u\($0)", #""tool_calls":1"#)) })
        let copy = fixture.directory.appendingPathComponent("copy.sqlite").path
        try fixture.reader().backup(to: copy)
        try fixture.apply([fixture.message(.usage, J.usage("after", #""tool_calls":1"#))])
        let restored = try LedgerReader(path: copy)
        #expect(try restored.verify() == VerificationReport(customers: 1, entries: 51, problems: []))
        #expect(try restored.account("cus_1")?.balance.description == "98.5")
        #expect(try fixture.store.account("cus_1")?.balance.description == "98.47")
    }

    @Test("verify reports a tampered entry")
    func verifyDetects() throws {
        let fixture = try enabledFixture()
        #expect(try fixture.reader().verify() == VerificationReport(customers: 1, entries: 1, problems: []))
        let tamper = try SQLiteConnection(path: fixture.path)
        try tamper.execute("UPDATE entries SET amount = amount + 1")
        let problems = try fixture.reader().verify().problems
        #expect(problems.first == "cus_1: entry 1 says balance 100, the sum of entries is 100.000001")
        #expect(problems.count == 2 && problems.last?.hasPrefix("cus_1: entry 1 does not match its hash") == true)
        try tamper.execute("UPDATE customers SET balance = balance + 5")
        let more = try fixture.reader().verify().problems
        #expect(
            more.count == 4 && more.last?.hasPrefix("cus_1: its grants do not add up to the balance 100.000005") == true,
            "\(more)")
    }
}

@Suite("Idempotency key retention")
struct RetentionTests {
    typealias J = JSONInputs

    @Test("keys older than the cutoff are forgotten in the store and the index; newer ones still dedupe, also after a restart")
    func prune() throws {
        let fixture = try StoreFixture()
        try fixture.apply(
            [fixture.message(.command, J.command("on", "enable_credits", #""settings":{"price_per_minute":"60"}"#))],
            at: t0)
        try fixture.apply([fixture.message(.usage, J.usage("old", #""call_seconds":1"#))], at: t0.adding(seconds: 10))
        try fixture.apply([fixture.message(.usage, J.usage("new", #""call_seconds":1"#))], at: t0.adding(seconds: 100))
        #expect(fixture.store.recentKeyCount == 3)
        #expect(try fixture.store.pruneIdempotencyKeys(recordedBefore: t0.adding(seconds: 50)) == 2)
        #expect(fixture.store.recentKeyCount == 1)
        try fixture.reopen()
        #expect(fixture.store.recentKeyCount == 1)
        let again = try fixture.apply(
            [
                fixture.message(.usage, J.usage("new", #""call_seconds":1"#)),
                fixture.message(.usage, J.usage("old", #""call_seconds":1"#)),
            ], at: t0.adding(seconds: 200))
        #expect(again.duplicates == 1, "the kept key still dedupes")
        #expect(again.entries == 1, "a pruned key is applied again: retention must outlast redelivery")
        #expect(try fixture.store.pruneIdempotencyKeys(recordedBefore: t0) == 0)
    }

    @Test("with commands bounded by the retention, a command replayed after its id was forgotten is refused, not applied again")
    func replayAfterPrune() throws {
        var rules = LedgerConfiguration()
        rules.commandMaxAgeSeconds = LedgerConfiguration.commandMaxAge(retentionDays: 1)
        let fixture = try StoreFixture(ledger: Ledger(configuration: rules))
        let add = J.command("add", "add_credits", #""amount":"100","note":"Monthly""#)
        try fixture.apply([
            fixture.message(.command, J.command("on", "enable_credits")), fixture.message(.command, add),
        ])
        let later = t0.adding(seconds: 2 * 86_400)
        #expect(try fixture.store.pruneIdempotencyKeys(recordedBefore: later.adding(seconds: -86_400)) == 2)
        // The same signed bytes again, after the id was forgotten.
        let replay = try fixture.apply([fixture.message(.command, add)], at: later)
        #expect(replay.entries == 0)
        #expect(replay.rejectedCommands[.invalidCommand] == 1)
        #expect(try fixture.store.account("cus_1")?.balance.description == "100")
    }
}

/// Runs SQL on a store file through a connection of its own (to set up what older versions left).
func rawSQL(_ path: String, _ sql: String) throws { try SQLiteConnection(path: path).execute(sql) }
