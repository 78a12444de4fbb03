import CreditsCore
import CreditsTestSupport
import Testing

@testable import CreditsStore

@Suite("Index of idempotency keys: filter, recent keys, runs on disk")
struct KeyIndexTests {
    typealias J = JSONInputs

    @Test("colliding hashes keep every recent row; remove and rollback undo exactly what was added")
    func collisions() {
        var index = RecentKeys()
        index.insert(7, seq: 1, tracked: false)
        index.commit()
        index.insert(7, seq: 2)
        index.insert(9, seq: 3)
        #expect(index.seqs(for: 7) == [1, 2])
        #expect(index.count == 3)
        index.rollBack()
        #expect(index.seqs(for: 7) == [1])
        #expect(index.seqs(for: 9) == [])
        index.insert(7, seq: 4)
        index.remove(7, seq: 1)
        #expect(index.seqs(for: 7) == [4])
        index.commit()
        index.remove(7, seq: 4)
        #expect(index.seqs(for: 7) == [] && index.count == 0)
    }

    @Test("dropping the keys of a run keeps the newer ones, collisions included")
    func dropThrough() {
        var index = RecentKeys()
        for seq in Int64(1)...10 { index.insert(seq % 3, seq: seq, tracked: false) }
        index.dropThrough(6)
        #expect(index.count == 4)
        #expect(index.seqs(for: 7 % 3) == [7, 10])
        #expect(index.seqs(for: 8 % 3) == [8])
        #expect(index.seqs(for: 9 % 3) == [9])
    }

    @Test("the filter never forgets an added hash and errs on about 1 % of the others, also past its capacity")
    func filter() {
        var rng = SeededGenerator(state: 42)
        var filter = KeyFilter(expectedKeys: 50_000)
        let added = (0..<200_000).map { _ in Int64.random(in: .min ... .max, using: &rng) }
        for hash in added { filter.insert(hash) }
        #expect(filter.layerCount == 3, "50 000, then 100 000, then 200 000")
        #expect(added.allSatisfy { filter.mayContain($0) })
        let others = (0..<200_000).map { _ in Int64.random(in: .min ... .max, using: &rng) }
        let falsePositives = others.filter { filter.mayContain($0) }.count
        #expect(falsePositives < 200_000 * 3 / 100, "\(falsePositives) false positives in 200 000")
        #expect(falsePositives > 0, "a filter that never says maybe would not be a filter")
        // FNV hashes of similar keys differ in few bits: the filter mixes them first.
        var sequential = KeyFilter(expectedKeys: 100_000)
        for number in 0..<100_000 { sequential.insert(IdempotencyKeys.hash(customerNum: 1, kind: .usage, key: "call-\(number)")) }
        let wrong = (100_000..<200_000).filter {
            sequential.mayContain(IdempotencyKeys.hash(customerNum: 1, kind: .usage, key: "call-\($0)"))
        }.count
        #expect(wrong < 2_000, "\(wrong) false positives among 100 000 similar keys")
        #expect(sequential.byteCount < 100_000 * 2, "about 1.2 bytes a key")
    }

    func smallRunsFixture(_ runSize: Int = 4) throws -> StoreFixture {
        var options = LedgerStore.Options()
        options.keyRunSize = runSize
        let fixture = try StoreFixture(options: options)
        try fixture.apply([
            fixture.message(.command, J.command("on", "enable_credits", #""settings":{"price_per_minute":"60"}"#)),
            fixture.message(.command, J.command("add", "add_credits", #""amount":"1000","note":"n""#)),
        ])
        return fixture
    }

    @Test("repeats of keys that went to runs on disk are found, with their outcome, also after a restart")
    func repeatsFromRuns() throws {
        let fixture = try smallRunsFixture()
        for batch in 0..<10 {
            try fixture.apply((0..<3).map { fixture.message(.usage, J.usage("u\(batch)-\($0)", #""call_seconds":1"#)) })
        }
        #expect(fixture.store.keyIndexFigures.runs >= 5)
        #expect(fixture.store.recentKeyCount < 4 + 3)
        #expect(try fixture.store.account("cus_1")?.balance.description == "970")
        for round in 0..<2 {
            let again = try fixture.apply((0..<10).map { fixture.message(.usage, J.usage("u\($0)-1", #""call_seconds":1"#)) })
            #expect(again.duplicates == 10 && again.entries == 0, "round \(round)")
            let other = try fixture.apply([fixture.message(.usage, J.usage("u0-0", #""call_seconds":2"#))])
            #expect(other.deadLettered == [.conflictingDuplicate: 1], "the same event_id with other fields")
            let command = try fixture.apply([
                fixture.message(.command, J.command("add", "add_credits", #""amount":"1000","note":"n""#))
            ])
            #expect(command.duplicates == 1, "a command from the first run")
            #expect(try fixture.store.account("cus_1")?.balance.description == "970")
            try fixture.reopen()
        }
        #expect(fixture.store.keyIndexFigures.runs >= 5, "runs are read back at open")
    }

    @Test("a store whose keys are all in memory writes them to runs when opened with a smaller run size")
    func runsAtOpen() throws {
        let fixture = try StoreFixture()
        try fixture.apply([fixture.message(.command, J.command("on", "enable_credits", #""settings":{"price_per_minute":"60"}"#))]
        )
        try fixture.apply((0..<20).map { fixture.message(.usage, J.usage("u\($0)", #""call_seconds":1"#)) })
        #expect(fixture.store.keyIndexFigures.runs == 0 && fixture.store.recentKeyCount == 21)
        var options = LedgerStore.Options()
        options.keyRunSize = 5
        try fixture.reopen(options: options)
        #expect(fixture.store.keyIndexFigures.runs == 4)
        #expect(fixture.store.recentKeyCount == 1)
        let again = try fixture.apply((0..<20).map { fixture.message(.usage, J.usage("u\($0)", #""call_seconds":1"#)) })
        #expect(again.duplicates == 20)
        #expect(try fixture.store.account("cus_1")?.balance.description == "-20")
    }

    @Test("a batch rolled back after writing a run leaves the index as it was")
    func rollbackOfRun() throws {
        let fixture = try smallRunsFixture(3)
        try fixture.apply((0..<2).map { fixture.message(.usage, J.usage("a\($0)", #""call_seconds":1"#)) })
        #expect(fixture.store.recentKeyCount == 4 && fixture.store.keyIndexFigures.runs == 0)
        // A batch on a partition another writer moved on is refused: here a database error
        // mid-batch, from a trigger, rolls the batch (and the run it wrote first) back.
        let sql = try SQLiteConnection(path: fixture.path)
        try sql.execute("CREATE TRIGGER refuse BEFORE INSERT ON entries BEGIN SELECT RAISE(ABORT, 'refused'); END")
        #expect(throws: StoreError.self) {
            try fixture.apply([fixture.message(.usage, J.usage("b", #""call_seconds":1"#))])
        }
        #expect(fixture.store.recentKeyCount == 4 && fixture.store.keyIndexFigures.runs == 0)
        try sql.execute("DROP TRIGGER refuse")
        try fixture.apply([fixture.message(.usage, J.usage("b", #""call_seconds":1"#))])
        #expect(fixture.store.keyIndexFigures.runs == 1 && fixture.store.recentKeyCount == 1)
        let again = try fixture.apply(
            (0..<2).map { fixture.message(.usage, J.usage("a\($0)", #""call_seconds":1"#)) }
                + [fixture.message(.usage, J.usage("b", #""call_seconds":1"#))])
        #expect(again.duplicates == 3)
    }

    @Test(
        "a run written a slice per batch: every key is found while it is half-written, after it, and after a crash in the middle")
    func slicedRuns() throws {
        var options = LedgerStore.Options()
        options.keyRunSize = 12
        options.keyRunSliceRows = 5  // a run of 12 keys: 3 batches reading, 3 writing
        let fixture = try StoreFixture(options: options)
        try fixture.apply([
            fixture.message(.command, J.command("on", "enable_credits", #""settings":{"price_per_minute":"60"}"#)),
            fixture.message(.command, J.command("add", "add_credits", #""amount":"1000","note":"n""#)),
        ])
        var sent: [String] = []
        func send(_ count: Int) throws {
            let ids = (0..<count).map { "u\(sent.count + $0)" }
            sent += ids
            let report = try fixture.apply(ids.map { fixture.message(.usage, J.usage($0, #""call_seconds":1"#)) })
            #expect(report.entries == count)
        }
        func expectAllRepeats(_ label: String) throws {
            let again = try fixture.apply(sent.map { fixture.message(.usage, J.usage($0, #""call_seconds":1"#)) })
            #expect(again.duplicates == sent.count && again.entries == 0, "\(label)")
            let command = try fixture.apply([
                fixture.message(.command, J.command("add", "add_credits", #""amount":"1000","note":"n""#))
            ])
            #expect(command.duplicates == 1, "\(label)")
            #expect(try fixture.store.account("cus_1")?.balance.micros == 1_000_000_000 - Int64(sent.count) * 1_000_000)
        }
        try send(12)  // 14 keys in memory: the next batch starts a run of them
        #expect(fixture.store.keyIndexFigures.runs == 0)
        for step in 0..<3 {
            try send(1)  // reads 5, 5, then 4 (and sorts) and writes 1
            #expect(fixture.store.keyIndexFigures.runs == 0, "step \(step): still half-written")
        }
        try expectAllRepeats("while the run is half-written")  // two more batches: 11 of 14 written
        #expect(fixture.store.keyIndexFigures.runs == 0)
        let sql = try SQLiteConnection(path: fixture.path)
        #expect(try Self.incompleteRunRows(sql) == 11, "part of the run is on disk")
        // A crash now: the half-written run has no range row; the next open deletes it (and, as
        // for any store with more keys than a run outside runs, writes a run at once).
        try fixture.reopen(options: options)
        #expect(try Self.incompleteRunRows(sql) == 0)
        try Self.expectRunsMatchRanges(sql)
        try expectAllRepeats("after a crash in the middle of a run")
        for _ in 0..<20 { try send(1) }
        #expect(fixture.store.keyIndexFigures.runs >= 2, "runs complete")
        try expectAllRepeats("after the runs")
        try fixture.reopen(options: options)
        try expectAllRepeats("after a reopen")
        try Self.expectRunsMatchRanges(sql)
    }

    /// Rows of `key_runs` that belong to no complete run.
    static func incompleteRunRows(_ sql: SQLiteConnection) throws -> Int64 {
        try sql.statement("SELECT count(*) FROM key_runs WHERE run NOT IN (SELECT run FROM key_run_ranges)")
            .firstRow { $0.int64(0) } ?? -1
    }

    /// Every complete run holds exactly the keys of its range.
    static func expectRunsMatchRanges(_ sql: SQLiteConnection, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let mismatches = try sql.statement(
            """
            SELECT count(*) FROM key_run_ranges r
            WHERE (SELECT count(*) FROM key_runs k WHERE k.run = r.run)
               != (SELECT count(*) FROM idempotency_keys i WHERE i.seq BETWEEN r.first_seq AND r.last_seq)
            """
        ).firstRow { $0.int64(0) }
        #expect(mismatches == 0, sourceLocation: sourceLocation)
    }

    @Test("a batch rolled back in the middle of a sliced run leaves the run where it was")
    func slicedRunRollback() throws {
        var options = LedgerStore.Options()
        options.keyRunSize = 6
        options.keyRunSliceRows = 2
        let fixture = try StoreFixture(options: options)
        try fixture.apply([fixture.message(.command, J.command("on", "enable_credits", #""settings":{"price_per_minute":"60"}"#))]
        )
        try fixture.apply((0..<6).map { fixture.message(.usage, J.usage("a\($0)", #""call_seconds":1"#)) })
        try fixture.apply([fixture.message(.usage, J.usage("b0", #""call_seconds":1"#))])
        let sql = try SQLiteConnection(path: fixture.path)
        try sql.execute("CREATE TRIGGER refuse BEFORE INSERT ON entries BEGIN SELECT RAISE(ABORT, 'refused'); END")
        for _ in 0..<3 {
            #expect(throws: StoreError.self) { try fixture.apply([fixture.message(.usage, J.usage("b1", #""call_seconds":1"#))]) }
        }
        try sql.execute("DROP TRIGGER refuse")
        for index in 1..<10 { try fixture.apply([fixture.message(.usage, J.usage("b\(index)", #""call_seconds":1"#))]) }
        #expect(fixture.store.keyIndexFigures.runs >= 1)
        let again = try fixture.apply(
            (0..<6).map { fixture.message(.usage, J.usage("a\($0)", #""call_seconds":1"#)) }
                + (0..<10).map { fixture.message(.usage, J.usage("b\($0)", #""call_seconds":1"#)) })
        #expect(again.duplicates == 16 && again.entries == 0)
        try Self.expectRunsMatchRanges(sql)  // no row of a rolled-back slice left, none missing
    }

    @Test("pruning drops runs whose keys are all gone; a pruned key is applied again, a kept one dedupes")
    func pruneRuns() throws {
        let fixture = try smallRunsFixture(2)
        for batch in 0..<6 {
            try fixture.apply(
                [fixture.message(.usage, J.usage("u\(batch)", #""call_seconds":1"#))], at: t0.adding(seconds: Int64(batch * 10)))
        }
        let runsBefore = fixture.store.keyIndexFigures.runs
        #expect(runsBefore >= 2)
        #expect(try fixture.store.pruneIdempotencyKeys(recordedBefore: t0.adding(seconds: 25)) == 5)  // on, add, u0, u1, u2
        #expect(fixture.store.keyIndexFigures.runs < runsBefore)
        try fixture.reopen()
        let again = try fixture.apply(
            [
                fixture.message(.usage, J.usage("u1", #""call_seconds":1"#)),
                fixture.message(.usage, J.usage("u4", #""call_seconds":1"#)),
            ], at: t0.adding(seconds: 100))
        #expect(again.entries == 1 && again.duplicates == 1)
    }
}
