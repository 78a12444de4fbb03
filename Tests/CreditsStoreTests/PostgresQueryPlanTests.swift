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
