import CreditsCore
import CreditsStore
import CreditsTestSupport
import Testing

@testable import CreditsPostgres

/// How a large batch is split for planning and writing in parts.
@Suite("PostgreSQL store: a batch in parts")
struct PostgresBatchPartsTests {
    @Test("every part holds whole customers, in the batch's order, and together the parts are the batch")
    func partsHoldWholeCustomers() throws {
        var generator = SeededGenerator(state: 24)
        let batch: [InboundMessage] = (0..<2_000).map { offset in
            let customer = "customer-\(Int.random(in: 0..<300, using: &generator))"
            return offset % 50 == 0
                ? inboundMessage(.usage, "{not json", key: nil, partition: 0, offset: Int64(offset))
                : inboundMessage(
                    .usage, JSONInputs.usage("e-\(offset)", #""call_seconds":60"#, customer: customer), key: customer,
                    partition: Int32(offset % 12), offset: Int64(offset))
        }
        let parts = PostgresLedgerStore.parts(of: batch, count: 4)
        #expect(parts.count == 4)
        #expect(parts.map(\.count).reduce(0, +) == batch.count)
        var partOf: [String: Int] = [:]
        for (index, part) in parts.enumerated() {
            #expect(part.count > 200, "part \(index) holds \(part.count) of 2 000")
            // The batch's order within a part.
            #expect(zip(part, part.dropFirst()).allSatisfy { $0.origin.offset < $1.origin.offset })
            for message in part {
                // Inputs naming no customer (and no key here) go together.
                let customer = BatchPlan.customerID(of: message) ?? "(none)"
                #expect(partOf.updateValue(index, forKey: customer) ?? index == index, "\(customer) is in two parts")
            }
        }
        #expect(PostgresLedgerStore.parts(of: batch, count: 1).first?.count == batch.count)
    }
}

/// A batch large enough to be written in parts, against SQLite's result for the same inputs.
@Suite("PostgreSQL store: a large batch")
struct PostgresLargeBatchTests {
    /// 300 customers enabled with credits, then one batch of 2 000 inputs over them: usage, some
    /// repeated within the batch, some invalid.
    func run(_ backend: Backend) throws -> (report: BatchReport, fixture: BackendFixture) {
        let fixture = try BackendFixture(backend)
        let customers = (0..<300).map { "cus_\($0)" }
        try fixture.apply(
            customers.enumerated().flatMap { index, customer in
                [
                    fixture.message(
                        .command, JSONInputs.command("enable-\(index)", "enable_credits", customer: customer),
                        partition: Int32(index % 2)),
                    fixture.message(
                        .command,
                        JSONInputs.command("add-\(index)", "add_credits", #""amount":"5","note":"n""#, customer: customer),
                        partition: Int32(index % 2)),
                ]
            })
        var generator = SeededGenerator(state: 35)
        var batch: [InboundMessage] = []
        var sent: [(json: String, number: Int)] = []
        for index in 0..<2_000 {
            var number = Int.random(in: 0..<300, using: &generator)
            var json =
                index % 151 == 0
                ? "{not json"
                : JSONInputs.usage(
                    "e-\(index)", #""call_seconds":\#(index % 90),"tool_calls":\#(index % 3)"#, customer: "cus_\(number)")
            if index % 97 == 96, let earlier = sent.randomElement(using: &generator) { (json, number) = earlier }  // a repeat
            sent.append((json, number))
            batch.append(fixture.message(.usage, json, key: "cus_\(number)", partition: Int32(number % 2)))
        }
        #expect(batch.count >= PostgresLedgerStore.Options().partedBatchMinimum)
        return (try fixture.apply(batch), fixture)
    }

    @Test("a batch of 2 000 inputs, written in parts, stores and publishes what SQLite does")
    func sameAsSQLite() throws {
        let (parted, postgres) = try run(.postgres)
        let (whole, sqlite) = try run(.sqlite)
        #expect(parted.applied == whole.applied && parted.duplicates == whole.duplicates)
        #expect(parted.deadLettered == whole.deadLettered && parted.entries == whole.entries)
        #expect(parted.applied > 1_900 && parted.duplicates > 10 && !parted.deadLettered.isEmpty)
        for number in 0..<300 {
            #expect(try postgres.balance("cus_\(number)") == sqlite.balance("cus_\(number)"), "cus_\(number)")
        }
        // The same messages, each key's (a customer's, or an unreadable input's Kafka key) in the
        // same order; seqs rising in the report's order.
        func byKey(_ report: BatchReport) -> [String: [String]] {
            Dictionary(grouping: report.outbox.map(\.message), by: \.key).mapValues { $0.map(\.value) }
        }
        let (postgresMessages, sqliteMessages) = (byKey(parted), byKey(whole))
        #expect(postgresMessages.keys.sorted() == sqliteMessages.keys.sorted())
        let differing = sqliteMessages.keys.sorted().filter { postgresMessages[$0] != sqliteMessages[$0] }
        #expect(
            differing.isEmpty,
            "\(differing.count) keys differ, first \(differing.first ?? ""): PostgreSQL \(postgresMessages[differing.first ?? ""]?.count ?? 0) messages \(String(describing: postgresMessages[differing.first ?? ""]?.first?.prefix(300))), SQLite \(sqliteMessages[differing.first ?? ""]?.count ?? 0) \(String(describing: sqliteMessages[differing.first ?? ""]?.first?.prefix(300)))"
        )
        #expect(parted.outbox.map(\.seq) == parted.outbox.map(\.seq).sorted())
        #expect(Set(parted.outbox.map(\.seq)).count == parted.outbox.count)
    }
}
