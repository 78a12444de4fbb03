import CreditsCore
import CreditsStore
import CreditsTestSupport
import Testing

@testable import CreditsPostgres

/// The shared store's outbox in groups (`PostgresOutbox`): what the paging and forgetting tests
/// of `BackendContractTests` do not reach.
@Suite("PostgreSQL store: the outbox in groups")
struct PostgresOutboxTests {
    @Test("a store upgraded from a row per message publishes the old rows first, in their order, then its own")
    func upgradeKeepsTheOldRows() throws {
        let server = try PostgresServer.shared()
        let url = try server.makeDatabase("upgrade")
        let database = String(url.split(separator: "/").last ?? "")
        // The schema as migration 007 left it, with three messages still undelivered in its outbox.
        var sql = "CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());\n"
        for migration in PostgresMigrations.all where migration.name < "008" {
            sql += migration.sql.joined(separator: ";\n") + ";\n"
            sql += "INSERT INTO schema_migrations (name) VALUES ('\(migration.name)');\n"
        }
        for program in PostgresMigrations.programs { sql += "INSERT INTO schema_migrations (name) VALUES ('\(program.name)');\n" }
        sql += "INSERT INTO outbox (partition, topic, key, value) VALUES "
        sql += "(0, 1, 'a', 'one'), (1, 1, 'b', 'two'), (0, 3, 'a', 'three');"
        _ = try server.psql(database, sql)

        let store = try PostgresLedgerStore(url: PostgresStoreURL(url), ledger: Ledger(), logger: BackendFixture.logger)
        defer { store.close() }
        _ = try store.own(BackendFixture.partitions)
        #expect(try store.outboxDepth() == 3)
        let old = try store.pendingOutbox(after: 0, limit: 10)
        #expect(old.map(\.message.value) == ["one", "two", "three"])
        #expect(old.map(\.message.topic) == [.balanceChanged, .balanceChanged, .blocks])
        // New output comes after the old, and forgetting the old leaves the new.
        let message = inboundMessage(
            .command, JSONInputs.command("enable", "enable_credits"), key: "cus_1", partition: 0, offset: 0)
        let report = try store.apply([message], at: t0)
        #expect(!report.outbox.isEmpty && report.outbox.allSatisfy { $0.seq > old.last!.seq })
        try store.markDelivered(through: old.last!.seq)
        #expect(try store.pendingOutbox(after: 0, limit: 10).filter(\.isStored).map(\.seq) == report.outbox.map(\.seq))
        #expect(
            try server.psql(database, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'outbox'")
                .trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }
}
