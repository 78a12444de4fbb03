import CreditsCore
import CreditsStore
import CreditsTestSupport
import Foundation
import Testing

@testable import CreditsPostgres

/// What every store backend must do, through the same protocols the service uses: run on SQLite
/// and on a real PostgreSQL server.
@Suite("Store backends")
struct BackendContractTests {
    typealias J = JSONInputs

    func enabled(_ backend: Backend) throws -> BackendFixture { try BackendFixture.enabled(backend) }

    @Test("a batch stores entries, balance, outbox and positions together", arguments: Backend.allCases)
    func batch(backend: Backend) throws {
        let fixture = try enabled(backend)
        let report = try fixture.apply([
            fixture.message(.usage, J.usage("u1", #""call_seconds":30"#)),
            fixture.message(.usage, J.usage("u2", #""tool_calls":3"#)),
        ])
        #expect(report.applied == 2 && report.entries == 2)
        #expect(report.nextOffsets == [TopicPartition(topic: "credits.usage", partition: 0): 2])
        // Each change of the account publishes its state, coalesced: one per changed customer per
        // batch with no row of its own (`changedAccounts`), on both stores.
        #expect(report.outbox.map(\.message.topic) == [.balanceChanged, .balanceChanged])
        #expect(report.changedAccounts == ["cus_1"])
        #expect(try fixture.balance("cus_1") == "69.91")
        let offsets = try fixture.writer.consumedOffsets()
        #expect(offsets[TopicPartition(topic: "credits.usage", partition: 0)] == 2)
        #expect(offsets[TopicPartition(topic: "credits.commands", partition: 0)] == 2)
        let changes = try fixture.outbox(.balanceChanged)
        #expect(changes.map { $0["balance"]?.text } == ["100", "70", "69.91"])
        #expect(changes.map { $0["entry_id"]?.text } == ["1", "2", "3"])
        // Read back: the rows, then the states rebuilt from them (the same messages).
        let pending = try fixture.writer.pendingOutbox(after: 0, limit: 100)
        let sent =
            report.outbox.map(\.message)
            + (try fixture.writer.accountStates(of: report.changedAccounts)).map { OutputEvent.account($0).message }
        #expect(pending.suffix(sent.count).map(\.message) == sent, "read back byte for byte")
        #expect(pending.map(\.seq) == pending.map(\.seq).sorted())
    }

    @Test("repeats are applied once; a repeat with other fields is dead-lettered", arguments: Backend.allCases)
    func idempotency(backend: Backend) throws {
        let fixture = try enabled(backend)
        let usage = J.usage("u1", #""call_seconds":60"#)
        let first = try fixture.apply([fixture.message(.usage, usage), fixture.message(.usage, usage)])
        try fixture.reopen()
        let second = try fixture.apply([
            fixture.message(.usage, usage),
            fixture.message(.usage, J.usage("u1", #""call_seconds":61"#)),
        ])
        #expect(first.duplicates == 1 && second.duplicates == 1)
        #expect(second.deadLettered[.conflictingDuplicate] == 1)
        #expect(try fixture.balance("cus_1") == "40")
        let repeated = try fixture.apply([
            fixture.message(.command, J.command("add", "add_credits", #""amount":"100","note":"Monthly""#))
        ])
        #expect(repeated.duplicates == 1)
        let results = try fixture.outbox(.commandResults)
        #expect(results.last?["status"]?.text == "duplicate")
        #expect(results.last?["original_status"]?.text == "applied")
        #expect(results.last?["entry_id"]?.text == "1")
    }

    @Test("a usage the ledger refuses is dead-lettered and its key stays free", arguments: Backend.allCases)
    func refusedUsageKeepsKeyFree(backend: Backend) throws {
        let fixture = try enabled(backend)
        let huge = J.usage("big", #""tool_calls":100000,"ai_costs_usd":{"llm":"999999999999"}"#)
        let report = try fixture.apply([fixture.message(.usage, huge)])
        #expect(report.deadLettered.values.reduce(0, +) == 1)
        let retry = try fixture.apply([fixture.message(.usage, J.usage("big", #""tool_calls":1"#))])
        #expect(retry.applied == 1, "the refused event_id was not remembered")
    }

    @Test("the next deadline is the earliest over the customers of every owned partition", arguments: Backend.allCases)
    func nextDeadlineOverPartitions(backend: Backend) throws {
        let fixture = try BackendFixture(backend)
        var messages: [InboundMessage] = []
        // Grace periods of 90, 30 and 60 s, on partitions 0, 1 and 0; a customer without one on 1.
        for (customer, grace, partition) in [("g90", 90, Int32(0)), ("g30", 30, 1), ("g60", 60, 0), ("none", 0, 1)] {
            let settings = #""settings":{"grace_period_seconds":\#(grace)}"#
            messages.append(
                fixture.message(
                    .command, J.command("e-\(customer)", "enable_credits", settings, customer: customer), partition: partition))
            if grace > 0 {
                let usage = J.usage("u-\(customer)", #""tool_calls":1"#, customer: customer)
                messages.append(fixture.message(.usage, usage, partition: partition))
            }
        }
        try fixture.apply(messages)
        #expect(try fixture.writer.nextDeadline() == t0.adding(seconds: 30))
        #expect(try fixture.writer.fireDueDeadlines(at: t0.adding(seconds: 30)).deadlinesFired == 1)
        #expect(try fixture.writer.nextDeadline() == t0.adding(seconds: 60))
        #expect(try fixture.writer.fireDueDeadlines(at: t0.adding(seconds: 90)).deadlinesFired == 2)
        #expect(try fixture.writer.nextDeadline() == nil)
    }

    @Test("grace deadlines fire once the period ends", arguments: Backend.allCases)
    func graceDeadline(backend: Backend) throws {
        let fixture = try BackendFixture(backend)
        try fixture.apply([
            fixture.message(.command, J.command("enable", "enable_credits", #""settings":{"grace_period_seconds":60}"#)),
            fixture.message(.command, J.command("add", "add_credits", #""amount":"1","note":"x""#)),
            fixture.message(.usage, J.usage("u1", #""tool_calls":100"#)),
        ])
        let deadline = try #require(try fixture.writer.nextDeadline())
        #expect(deadline == t0.adding(seconds: 60))
        #expect(try fixture.writer.fireDueDeadlines(at: t0.adding(seconds: 59)).deadlinesFired == 0)
        let fired = try fixture.writer.fireDueDeadlines(at: t0.adding(seconds: 60))
        #expect(fired.deadlinesFired == 1)
        #expect(
            fired.outbox.map(\.message.topic)
                + (try fixture.writer.accountStates(of: fired.changedAccounts)).map { OutputEvent.account($0).message.topic } == [
                    .blocks, .accounts,
                ])
        #expect(try fixture.writer.nextDeadline() == nil)
        #expect(try fixture.writer.blockStateCounts() == ["active": 0, "grace": 0, "blocked": 1])
    }

    @Test(
        "call holds: admission, repeats, usage, expiry after a reopen, as the contract's decisions", arguments: Backend.allCases)
    func callHolds(backend: Backend) throws {
        let fixture = try enabled(backend)
        func call(_ id: String, _ type: String, _ call: String) -> InboundMessage {
            fixture.message(
                .usage,
                #"{"event_id":"\#(id)","type":"\#(type)","customer_id":"cus_1","call_id":"\#(call)","occurred_at":"2026-11-24T10:00:00Z"}"#
            )
        }
        let first = try fixture.apply([
            fixture.message(.command, J.command("hold", "configure", #""call_hold_seconds":60"#)),
            call("c1/start", "call_started", "c1"),  // a hold of 60 (60 s at 60 a minute)
            call("c2/start", "call_started", "c2"),  // 40 available covers 40 s < 60: denied
            call("c1/start", "call_started", "c1"),  // a repeat: the same decision again
        ])
        #expect(first.duplicates == 1 && first.callDecisions == [.granted: 2, .denied: 1])
        try fixture.reopen()
        try fixture.apply(
            [
                call("c2/start", "call_started", "c2"),
                fixture.message(.usage, J.usage("u1", #""call_id":"c1","call_seconds":30"#)),
            ],
            at: t0.adding(seconds: 10))
        let account = try #require(try fixture.reader().account("cus_1"))
        #expect(account.held.description == "30" && account.balance.description == "70" && account.calls.live.count == 1)
        #expect(try fixture.writer.liveCallTotals() == LiveCallTotals(calls: 1, held: CreditAmount(credits: 30)))
        #expect(try fixture.writer.nextDeadline() == t0.adding(seconds: 10 + 60 + 60))
        #expect(try fixture.writer.fireDueDeadlines(at: t0.adding(seconds: 129)).outbox.isEmpty)
        let fired = try fixture.writer.fireDueDeadlines(at: t0.adding(seconds: 130))
        #expect(fired.callDecisions == [.expired: 1] && fired.deadlinesFired == 1)
        #expect(try fixture.writer.nextDeadline() == nil)
        #expect(try fixture.reader().account("cus_1")?.held == .zero)
        let decisions = try fixture.outbox(.callGrants)
        #expect(
            decisions.map { "\($0["event_id"]?.text ?? "") \($0["decision"]?.text ?? "") \($0["held"]?.text ?? "")" } == [
                "cus_1/c1/1 granted 60", "cus_1/c2/1 denied 0", "cus_1/c1/1 granted 60", "cus_1/c2/1 denied 0",
                "cus_1/c1/2 expired 0",
            ])
    }

    @Test(
        "grants: draw-down, expiry after a reopen, a top-up request paid twice applied once, an edited row found by verify",
        arguments: Backend.allCases)
    func grantsTopUpAndChain(backend: Backend) throws {
        let fixture = try enabled(backend)  // entry 1: 100 credits, never expiring
        try fixture.apply([
            fixture.message(
                .command, J.command("trial", "add_credits", #""amount":"50","note":"Trial","expires_at":"2026-11-24T11:00:00Z""#)),
            fixture.message(.usage, J.usage("u1", #""call_seconds":30"#)),  // drawn from the trial first
            fixture.message(
                .command, J.command("auto", "configure", #""auto_top_up_below":"110","auto_top_up_package":"1000""#)),
        ])
        var account = try #require(try fixture.reader().account("cus_1"))
        #expect(account.grants.active.map { "\($0.entryID):\($0.remaining)" } == ["2:20", "1:100"])
        #expect(account.grants.nextExpiry == NextExpiry(at: t0.adding(seconds: 3_600), amount: CreditAmount(credits: 20)))
        #expect(try fixture.writer.nextDeadline() == t0.adding(seconds: 3_600))
        try fixture.reopen()
        #expect(try fixture.writer.fireDueDeadlines(at: t0.adding(seconds: 3_599)).entries == 0)
        let fired = try fixture.writer.fireDueDeadlines(at: t0.adding(seconds: 3_600))
        #expect(fired.entries == 1 && fired.expiredEntries == 1 && fired.topUpRequests == 1)
        let expired = try #require(try fixture.outbox(.balanceChanged).last)
        #expect(expired["type"]?.text == "expired" && expired["amount"]?.text == "-20" && expired["balance"]?.text == "100")
        let request = try #require(try fixture.outbox(.topUpRequests).first)
        let requestID = try #require(request["request_id"]?.text)
        #expect(requestID == "cus_1/4/top-up" && request["package"]?.text == "1000" && request["balance"]?.text == "100")
        let pay = J.command(requestID, "quick_buy", #""package":"1000","payment_ref":"card-77""#)
        let paid = try fixture.apply(
            [fixture.message(.command, pay), fixture.message(.command, pay)], at: t0.adding(seconds: 3_700))
        #expect(paid.entries == 1 && paid.duplicates == 1)
        account = try #require(try fixture.reader().account("cus_1"))
        #expect(account.balance.description == "1100" && !account.topUpRequested)
        #expect(account.grants.active.map { "\($0.entryID):\($0.remaining)" } == ["1:100", "5:1000"])
        #expect(try fixture.writer.nextDeadline() == nil)
        let history = try fixture.reader().entries("cus_1", cursor: nil, limit: 10, kind: nil).entries.reversed()
        var previous = EntryHash.genesis
        for entry in history {
            #expect(entry.hash == EntryHash.of(entry, previous: previous))
            previous = entry.hash
        }
        #expect(account.headHash == previous)
        #expect(try fixture.reader().verify().isClean)
        try fixture.tamper("UPDATE entries SET note = 'Usage (edited)' WHERE entry_id = 3")
        let report = try fixture.reader().verify()
        #expect(report.problems.count == 1 && report.problems.first?.contains("entry 3 does not match its hash") == true)
    }

    @Test(
        "a store from before version 3 gets its hashes and grants by the migration, as the ledger makes them",
        arguments: Backend.allCases)
    func upgradeBackfill(backend: Backend) throws {
        let fixture = try enabled(backend)  // 100 added
        try fixture.apply(
            [
                fixture.message(.command, J.command("more", "add_credits", #""amount":"30","note":"More""#)),
                fixture.message(.usage, J.usage("u1", #""call_seconds":110"#)),  // 20 left: in the newest grant
                fixture.message(.command, J.command("other", "enable_credits", customer: "cus_2")),
                fixture.message(.usage, J.usage("u2", #""tool_calls":10"#, customer: "cus_2")),  // a debt
                fixture.message(.command, J.command("add2", "add_credits", #""amount":"1","note":"n""#, customer: "cus_2")),
            ])
        let reader = try fixture.reader()
        func state() throws -> [String] {
            try ["cus_1", "cus_2"].flatMap { customer -> [String] in
                let account = try #require(try reader.account(customer))
                let entries = try reader.entries(customer, cursor: nil, limit: 50, kind: nil).entries
                return [account.headHash.description] + entries.map(\.hash.description)
                    + account.grants.active.map { "\($0.entryID):\($0.remaining)" }
            }
        }
        let made = try state()
        #expect(made.contains("2:20") && made.contains("2:0.7"))
        // Back to the schema before migration 012 (SQLite) / 006 (PostgreSQL): no hashes, no grants.
        let columns = [
            "customers.head_hash", "customers.auto_top_up_below", "customers.auto_top_up_package",
            "customers.top_up_requested", "customers.active_grants", "entries.hash", "entries.expires_at",
        ]
        try fixture.tamper(
            "DROP TABLE grants; "
                + columns.map { "ALTER TABLE \($0.split(separator: ".")[0]) DROP COLUMN \($0.split(separator: ".")[1]);" }
                .joined(separator: " ")
                + " DELETE FROM schema_migrations WHERE name LIKE '012%' OR name LIKE '006_grants%' OR name LIKE '006_hash%';")
        try fixture.reopen()
        #expect(try state() == made)
        #expect(try fixture.reader().verify().isClean)
    }

    @Test("delivered output is forgotten; the rest is pending in order", arguments: Backend.allCases)
    func outboxDelivery(backend: Backend) throws {
        let fixture = try enabled(backend)
        let all = try fixture.writer.pendingOutbox(after: 0, limit: 100)
        #expect(all.count >= 4)
        try fixture.writer.markDelivered(through: all[1].seq)
        #expect(try fixture.writer.pendingOutbox(after: 0, limit: 100).map(\.seq) == all.dropFirst(2).map(\.seq))
        #expect(try fixture.writer.pendingOutbox(after: all[2].seq, limit: 100).map(\.seq) == all.dropFirst(3).map(\.seq))
        // (The SQLite store adds to what it reads the account states it rebuilds from those rows.)
        #expect(try fixture.writer.outboxDepth() == all.filter(\.isStored).count - 2)
    }

    @Test(
        "the outbox read page by page gives every message once, in order, whatever the page; the rest of a batch's output stays",
        arguments: Backend.allCases)
    func outboxPages(backend: Backend) throws {
        let fixture = try enabled(backend)
        try fixture.apply((1...6).map { fixture.message(.usage, J.usage("p\($0)", #""tool_calls":1"#)) })
        let all = try fixture.writer.pendingOutbox(after: 0, limit: 1_000).filter(\.isStored)
        #expect(all.count >= 10)
        for page in 1...4 {
            var read: [Int64] = []
            var after: Int64 = 0
            while let last = try fixture.writer.pendingOutbox(after: after, limit: page).filter(\.isStored).last {
                read += try fixture.writer.pendingOutbox(after: after, limit: page).filter(\.isStored).map(\.seq)
                after = last.seq
            }
            #expect(read == all.map(\.seq), "pages of \(page)")
        }
        // Delivered up to the third last message (inside the batch's output): the last two stay.
        try fixture.writer.markDelivered(through: all[all.count - 3].seq)
        let left = try fixture.writer.pendingOutbox(after: 0, limit: 1_000).filter(\.isStored)
        #expect(left.map(\.seq) == all.suffix(2).map(\.seq))
        #expect(try fixture.writer.outboxDepth() == 2)
    }

    @Test("reads: history pages newest first, usage buckets, verify", arguments: Backend.allCases)
    func reads(backend: Backend) throws {
        let fixture = try enabled(backend)
        try fixture.apply((1...5).map { fixture.message(.usage, J.usage("u\($0)", #""tool_calls":\#($0)"#)) })
        let reader = try fixture.reader()
        let first = try reader.snapshot { () throws(StoreError) in try reader.entries("cus_1", cursor: nil, limit: 4, kind: nil) }
        #expect(first.entries.map(\.entryID) == [6, 5, 4, 3])
        let cursor = try #require(first.next)
        let second = try reader.entries("cus_1", cursor: cursor, limit: 4, kind: nil)
        #expect(second.entries.map(\.entryID) == [2, 1])
        #expect(second.next == nil)
        let added = try reader.entries("cus_1", cursor: nil, limit: 10, kind: .added)
        #expect(added.entries.map(\.entryID) == [1])
        let buckets =
            try reader.usage("cus_1", from: t0, to: t0.adding(seconds: 3_600), bucketMilliseconds: 3_600_000, scanLimit: 10_000)
            ?? []
        #expect(buckets.count == 1 && buckets.first?.events == 5)
        #expect(buckets.first?.toolCalls.description == "0.45")
        let report = try reader.verify()
        #expect(try reader.account("cus_1")?.lastEntryID == 6)
        #expect(report.isClean, "\(report.problems)")
        #expect(report.entries == 6 && report.customers == 1)
    }

    @Test("reads: customers by state and low credit, in pages; the balance at a time", arguments: Backend.allCases)
    func customersAndBalanceAt(backend: Backend) throws {
        let fixture = try BackendFixture(backend)
        let settings = #""settings":{"price_per_minute":"60","grace_period_seconds":0,"low_credit_threshold":"50"}"#
        for customer in ["a", "b", "c", "d"] {
            try fixture.apply(
                [fixture.message(.command, J.command("on-\(customer)", "enable_credits", settings, customer: customer))], at: t0)
        }
        try fixture.apply(
            [
                fixture.message(.command, J.command("add-a", "add_credits", #""amount":"100","note":"n""#, customer: "a")),
                fixture.message(.command, J.command("add-b", "add_credits", #""amount":"100","note":"n""#, customer: "b")),
                fixture.message(.command, J.command("add-c", "add_credits", #""amount":"100","note":"n""#, customer: "c")),
            ], at: t0.adding(seconds: 10))
        try fixture.apply(
            [fixture.message(.usage, J.usage("u-b", #""call_seconds":50"#, customer: "b"))], at: t0.adding(seconds: 20))
        try fixture.apply(
            [fixture.message(.usage, J.usage("u-c", #""call_seconds":6000"#, customer: "c"))], at: t0.adding(seconds: 30))
        try fixture.apply(
            [fixture.message(.command, J.command("off-a", "disable_credits", customer: "a"))], at: t0.adding(seconds: 40))
        // a: disabled (not listed); b: 50, low credit; c: -5900, blocked; d: never topped up, blocked at 0.
        let reader = try fixture.reader()
        func ids(_ filter: CustomerFilter, after: String? = nil, limit: Int = 10) throws -> [String] {
            try reader.snapshot { () throws(StoreError) in try reader.customers(filter, after: after, limit: limit) }.map(
                \.customerID)
        }
        #expect(try ids(CustomerFilter()) == ["b", "c", "d"])
        #expect(try ids(CustomerFilter(state: .blocked)) == ["c", "d"])
        #expect(try ids(CustomerFilter(state: .active)) == ["b"])
        #expect(try ids(CustomerFilter(lowCredit: true)) == ["b", "c", "d"])
        #expect(try ids(CustomerFilter(state: .active, lowCredit: true)) == ["b"])
        #expect(try ids(CustomerFilter(), limit: 2) == ["b", "c"])
        #expect(try ids(CustomerFilter(), after: "c", limit: 2) == ["d"])

        func balance(_ customer: String, _ seconds: Int64) throws -> String? {
            try reader.balance(customer, at: t0.adding(seconds: seconds), scanLimit: 100).map { "\($0.balance) #\($0.entryID)" }
        }
        #expect(try balance("b", 5) == "0 #0", "before the first entry")
        #expect(try balance("b", 10) == "100 #1", "at the very time of an entry")
        #expect(try balance("b", 15) == "100 #1")
        #expect(try balance("b", 20) == "50 #2")
        #expect(try balance("b", 1_000) == "50 #2")
        #expect(try balance("c", 30) == "-5900 #2")
        if backend == .sqlite {
            #expect(try reader.balance("b", at: t0.adding(seconds: 15), scanLimit: 0) == nil, "the walk back is bounded")
        }
    }

    @Test("reads: the audit of a customer's commands, newest first, in pages", arguments: Backend.allCases)
    func audit(backend: Backend) throws {
        let fixture = try enabled(backend)  // enable (price 60), add 100
        try fixture.apply(
            [
                fixture.message(.command, J.command("cfg", "configure", #""grace_period_seconds":60"#)),
                fixture.message(.command, J.command("cfg-same", "configure", #""grace_period_seconds":60"#)),
                fixture.message(
                    .command, J.command("too-much", "deduct_credits", #""amount":"500","reason":"refund","note":"n""#)),
            ], at: t0.adding(seconds: 5))
        let reader = try fixture.reader()
        let first = try reader.snapshot { () throws(StoreError) in try reader.audit("cus_1", before: nil, limit: 2) }
        #expect(first.records.map(\.commandID) == ["cfg", "add"], "newest first; no record for no change or a rejection")
        #expect(first.records[0].changes == [.init(field: "grace_period_seconds", from: "300", to: "60")])
        #expect(first.records[0].recordedAt == t0.adding(seconds: 5) && first.records[0].actor == "ops")
        let cursor = try #require(first.next)
        let second = try reader.audit("cus_1", before: cursor, limit: 2)
        #expect(second.records.map(\.commandID) == ["enable"] && second.next == nil)
        #expect(second.records[0].changes.map(\.field) == ["credits_enabled", "price_per_minute", "state"])
        #expect(try reader.audit("nobody", before: nil, limit: 5).records.isEmpty)
    }

    @Test("pruned keys are forgotten", arguments: Backend.allCases)
    func pruning(backend: Backend) throws {
        let fixture = try enabled(backend)
        #expect(try fixture.writer.pruneIdempotencyKeys(recordedBefore: t0) == 0)
        #expect(try fixture.writer.pruneIdempotencyKeys(recordedBefore: t0.adding(seconds: 1)) == 2)
        let again = try fixture.apply([
            fixture.message(.command, J.command("add", "add_credits", #""amount":"100","note":"Monthly""#))
        ])
        #expect(again.duplicates == 0 && again.applied == 1)
    }
}

/// What only a shared store must do: fence writers that lost a partition.
@Suite("PostgreSQL store: fencing")
struct PostgresFencingTests {
    typealias J = JSONInputs

    @Test("a writer whose partition another writer applied is fenced; nothing of its batch is stored")
    func zombieIsFenced() throws {
        let fixture = try BackendFixture(.postgres)
        let zombie = try fixture.secondWriter()
        defer { zombie.close() }
        _ = try zombie.own(BackendFixture.partitions)
        // The partition moves to `fixture.writer` (which reads position 0 too) and is applied there.
        _ = try fixture.writer.own(BackendFixture.partitions)
        let enable = fixture.message(.command, J.command("enable", "enable_credits"))
        try fixture.apply([enable])
        // The zombie wakes with the same message and more: rolled back whole.
        let stale = [enable, fixture.message(.command, J.command("add", "add_credits", #""amount":"5","note":"x""#))]
        #expect(throws: StoreError.self) { try zombie.apply(stale, at: t0) }
        do {
            _ = try zombie.apply(stale, at: t0)
        } catch {
            #expect(error.isFenced, "\(error)")
            #expect(error.message.contains("credits.commands[0]"), "\(error.message)")
        }
        #expect(try fixture.balance("cus_1") == "0")
        #expect(try fixture.writer.consumedOffsets()[TopicPartition(topic: "credits.commands", partition: 0)] == 1)
        // Taking the partition again (a new assignment) reads the new position, and applies.
        let positions = try zombie.own(BackendFixture.partitions)
        #expect(positions[TopicPartition(topic: "credits.commands", partition: 0)] == 1)
        _ = try zombie.apply([stale[1]], at: t0)
        #expect(try fixture.balance("cus_1") == "5")
    }

    /// A PostgreSQL store whose cus_1 has run out of credits, its 1 s grace period running.
    private func customerInGrace() throws -> BackendFixture {
        let fixture = try BackendFixture(.postgres)
        try fixture.apply([
            fixture.message(.command, J.command("enable", "enable_credits", #""settings":{"grace_period_seconds":1}"#)),
            fixture.message(.usage, J.usage("u1", #""tool_calls":1"#)),
        ])
        return fixture
    }

    @Test("a writer is fenced from the moment another takes its partitions, before the new owner applies anything")
    func takingFencesAtOnce() throws {
        let fixture = try customerInGrace()
        let owner = try fixture.secondWriter()
        defer { owner.close() }
        let positions = try fixture.writer.consumedOffsets()
        // The positions do not move: only the ownership does.
        _ = try owner.own(BackendFixture.partitions)
        do {
            _ = try fixture.writer.apply([fixture.message(.usage, J.usage("u2", #""tool_calls":1"#))], at: t0)
            Issue.record("the old owner's batch was stored")
        } catch {
            #expect(error.isFenced, "\(error)")
            #expect(error.message.contains("credits.usage[0] (taken at epoch 1, now 2)"), "\(error.message)")
        }
        do {
            _ = try fixture.writer.fireDueDeadlines(at: t0.adding(seconds: 5))
            Issue.record("the old owner fired a deadline")
        } catch {
            #expect(error.isFenced, "\(error)")
        }
        #expect(try fixture.writer.consumedOffsets() == positions)
        // The new owner fires the deadline; the old owner's rows and the new owner's never interleave.
        #expect(try owner.fireDueDeadlines(at: t0.adding(seconds: 5)).deadlinesFired == 1)
        // Released (revoked), the old owner fires and reads nothing, and fails no transaction.
        fixture.writer.release()
        #expect(try fixture.writer.fireDueDeadlines(at: t0.adding(seconds: 9)).deadlinesFired == 0)
        #expect(try fixture.writer.pendingOutbox(after: 0, limit: 100).isEmpty)
    }

    @Test("a writer that took no partitions commits nothing for any")
    func unownedPartitionIsFenced() throws {
        let fixture = try BackendFixture(.postgres)
        let other = try fixture.secondWriter()
        defer { other.close() }
        do {
            _ = try other.apply([fixture.message(.command, J.command("enable", "enable_credits"))], at: t0)
            Issue.record("a batch of a partition the writer never took was stored")
        } catch {
            #expect(error.isFenced, "\(error)")
        }
        #expect(try fixture.writer.consumedOffsets().isEmpty)
    }

    @Test("grace deadlines of a partition the writer no longer owns are not fired")
    func timersAreFenced() throws {
        let fixture = try customerInGrace()
        let owner = try fixture.secondWriter()
        defer { owner.close() }
        _ = try owner.own(BackendFixture.partitions)
        _ = try owner.apply([fixture.message(.usage, J.usage("u2", #""tool_calls":1"#))], at: t0)
        #expect(throws: StoreError.self) { try fixture.writer.fireDueDeadlines(at: t0.adding(seconds: 5)) }
        #expect(try owner.fireDueDeadlines(at: t0.adding(seconds: 5)).deadlinesFired == 1)
    }

    @Test("firing deadlines writes no position for partitions nobody applied (they keep the group-offset check)")
    func deadlineFenceWritesNoPositions() throws {
        let fixture = try BackendFixture(.postgres)
        try fixture.apply([
            fixture.message(.command, J.command("enable", "enable_credits", #""settings":{"grace_period_seconds":1}"#))
        ])
        _ = try fixture.writer.fireDueDeadlines(at: t0.adding(seconds: 5))
        #expect(try fixture.writer.consumedOffsets() == [TopicPartition(topic: "credits.commands", partition: 0): 1])
        // Another writer taking the partitions still finds them never applied.
        let other = try fixture.secondWriter()
        defer { other.close() }
        let positions = try other.own(BackendFixture.partitions)
        #expect(positions == [TopicPartition(topic: "credits.commands", partition: 0): 1])
    }

    @Test("each writer sees only its partitions' outbox and deadlines")
    func outboxPerPartition() throws {
        let fixture = try BackendFixture(.postgres)
        try fixture.apply([
            fixture.message(.command, J.command("a", "enable_credits", customer: "on_zero"), partition: 0),
            fixture.message(.command, J.command("b", "enable_credits", customer: "on_one"), partition: 1),
        ])
        let other = try fixture.secondWriter()
        defer { other.close() }
        _ = try other.own([
            TopicPartition(topic: "credits.usage", partition: 1),
            TopicPartition(topic: "credits.commands", partition: 1),
        ])
        let mine = try other.pendingOutbox(after: 0, limit: 100)
        #expect(!mine.isEmpty && mine.allSatisfy { $0.message.key == "on_one" })
        try other.markDelivered(through: Int64.max)
        let left = try fixture.writer.pendingOutbox(after: 0, limit: 100)
        #expect(!left.isEmpty && left.allSatisfy { $0.message.key == "on_zero" }, "the other partition's rows stay")
    }

    @Test("a partition taken over keeps the previous owner's undelivered rows through the new owner's delivered mark")
    func takeoverKeepsUndeliveredRows() throws {
        let fixture = try BackendFixture(.postgres)
        let partitionOne = [
            TopicPartition(topic: "credits.usage", partition: 1),
            TopicPartition(topic: "credits.commands", partition: 1),
        ]
        let partitionZero = [
            TopicPartition(topic: "credits.usage", partition: 0),
            TopicPartition(topic: "credits.commands", partition: 0),
        ]
        // A (the fixture's writer) applies partition 1 and crashes before publishing.
        try fixture.apply([fixture.message(.command, J.command("b", "enable_credits", customer: "on_one"), partition: 1)])
        // B owns partition 0, applies it (rows with a higher seq) and hands them to its publisher.
        let other = try fixture.secondWriter()
        defer { other.close() }
        _ = try other.own(partitionZero)
        _ = try other.apply(
            [fixture.message(.command, J.command("a", "enable_credits", customer: "on_zero"), partition: 0)], at: t0)
        let handed = try other.pendingOutbox(after: 0, limit: 100)
        #expect(!handed.isEmpty && handed.allSatisfy { $0.message.key == "on_zero" })
        // The group gives B partition 1 too; the deliveries of what it handed over arrive after.
        _ = try other.own(partitionZero + partitionOne)
        try other.markDelivered(through: handed.last!.seq)
        // The rescan must still find A's rows: the mark came from rows of partition 0 only.
        let rescan = try other.pendingOutbox(after: 0, limit: 100)
        #expect(rescan.contains { $0.message.key == "on_one" }, "the previous owner's undelivered rows were deleted")
    }

    @Test("instances starting together migrate the schema once")
    func concurrentMigration() async throws {
        let url = try PostgresServer.shared().makeDatabase("migrate")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await Task.detached {
                        let store = try PostgresLedgerStore(
                            url: try PostgresStoreURL(url), ledger: Ledger(),
                            logger: BackendFixture.logger)
                        store.close()
                    }.value
                }
            }
            try await group.waitForAll()
        }
        let database = String(url.split(separator: "/").last ?? "")
        #expect(
            try PostgresServer.shared().psql(database, "SELECT count(*) FROM schema_migrations")
                .trimmingCharacters(in: .whitespacesAndNewlines)
                == "\(PostgresMigrations.all.count + PostgresMigrations.programs.count)")
    }

    @Test("an unreachable database is a clear store error, not a hang")
    func unreachable() throws {
        let url = try PostgresStoreURL("postgres://nobody@127.0.0.1:1/none")
        let started = Date()
        #expect {
            _ = try PostgresLedgerStore(url: url, ledger: Ledger(), logger: BackendFixture.logger)
        } throws: { error in
            "\(error)".contains("connecting to PostgreSQL")
        }
        #expect(Date().timeIntervalSince(started) < 10)
    }

    @Test("store URLs: what is accepted, and the password never shown")
    func urls() throws {
        let url = try PostgresStoreURL("postgres://ledger:s3cret@db.internal:6432/credits?sslmode=require")
        #expect(url.host == "db.internal" && url.port == 6432 && url.database == "credits" && url.requiresTLS)
        #expect(!url.description.contains("s3cret"))
        for bad in [
            "mysql://a@b/c", "postgres://a@b", "postgres://b/c", "postgres://a@b/c?sslmode=allow", "postgres://a@b/c?x=1",
        ] {
            #expect(throws: PostgresStoreURL.Invalid.self, "\(bad)") { _ = try PostgresStoreURL(bad) }
        }
    }
}

/// The server's side of a paused writer.
@Suite("PostgreSQL store: a paused writer")
struct PostgresPausedWriterTests {
    @Test("a transaction left idle (a paused process) is ended by the server after 5 s, and never continued elsewhere")
    func idleTransactionIsEnded() async throws {
        let url = try PostgresStoreURL(try PostgresServer.shared().makeDatabase("idle"))
        // The "paused process" blocks a thread of its own, not one of the cooperative pool.
        let outcome: String = await withCheckedContinuation { continuation in
            Thread {
                let session = PostgresSession(url: url, role: "test", logger: BackendFixture.logger)
                defer { session.close() }
                let paused = Date()
                do {
                    try session.transaction { () throws(StoreError) in
                        try session.query("SELECT 1", "inside")
                        while Date().timeIntervalSince(paused) < 6 { usleep(100_000) }
                        try session.query("SELECT 1", "after the pause")
                    }
                    continuation.resume(returning: "committed")
                } catch {
                    // The next statement runs on a new connection.
                    let again = (try? session.query("SELECT 1", "afterwards").count) == 1
                    continuation.resume(returning: "\(error)" + (again ? "; reconnected" : "; no reconnection"))
                }
            }.start()
        }
        #expect(outcome.contains("lost inside a transaction") && outcome.hasSuffix("; reconnected"), "\(outcome)")
    }
}
