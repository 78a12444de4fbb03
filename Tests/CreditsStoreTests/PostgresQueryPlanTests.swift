import CreditsCore
import CreditsStore
import CreditsTestSupport
import PostgresNIO
import Testing

@testable import CreditsPostgres

/// How PostgreSQL runs the store's per-batch statements once its tables are large: a plan that
/// reads a whole table costs more with every event ever applied.
@Suite("PostgreSQL store: query plans")
struct PostgresQueryPlanTests {
    @Test("a batch's idempotency keys are looked up one primary-key probe each, the table never scanned")
    func keyLookupProbesThePrimaryKey() throws {
        let server = try PostgresServer.shared()
        let location = try server.makeDatabase("plans")
        let url = try PostgresStoreURL(location)
        try PostgresLedgerStore(url: url, ledger: Ledger(), logger: BackendFixture.logger).close()
        // 200 000 stored keys over 2 000 customers, and the planner's statistics of them.
        _ = try server.psql(
            url.database,
            """
            INSERT INTO idempotency_keys (customer_id, kind, key, digest, status, reason, entry_id, recorded_at)
            SELECT 'customer-' || (i % 2000), 0, 'event-' || i, '\\x00', 0, NULL, i, 0 FROM generate_series(1, 200000) i;
            ANALYZE idempotency_keys
            """)
        // A batch of 5 000 keys, some stored already.
        let keys = (0..<5_000).map { i in
            BatchPlan.KeyID(customerID: "customer-\(i % 2000)", kind: .usage, key: i % 10 == 0 ? "event-\(i)" : "new-\(i)")
        }
        let lookup = PostgresLedgerStore.keyLookup(keys)
        let session = PostgresSession(url: url, role: "test", logger: BackendFixture.logger)
        defer { session.close() }
        var plan: [String] = []
        for row in try session.query(PostgresQuery(unsafeSQL: "EXPLAIN " + lookup.sql, binds: lookup.binds), "explaining") {
            plan.append(try PostgresColumns(row).string(0))
        }
        let text = plan.joined(separator: "\n")
        #expect(!text.contains("Seq Scan on idempotency_keys"), "\(text)")
        #expect(text.contains("Index Scan using idempotency_keys_pkey"), "\(text)")
        // And it finds exactly the stored ones (i = 0, 10, 20, … are stored as event-i, i ≥ 1).
        let found = try session.query(lookup, "looking up")
        #expect(found.count == keys.count / 10 - 1)
    }
}

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
                // Inputs naming no customer go together.
                let customer = BatchPlan.customerID(of: message) ?? "(none)"
                #expect(partOf.updateValue(index, forKey: customer) ?? index == index, "\(customer) is in two parts")
            }
        }
        #expect(PostgresLedgerStore.parts(of: batch, count: 1).first?.count == batch.count)
    }
}
