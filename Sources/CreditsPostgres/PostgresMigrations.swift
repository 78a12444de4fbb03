import CreditsCore
import CreditsStore
import PostgresNIO

/// The PostgreSQL schema's history: named migrations applied in order, under an advisory lock so
/// that instances starting together apply each once. Never edit a released migration.
///
/// Amounts are micro-credits (BIGINT), times milliseconds since the epoch. Customers are keyed by
/// their id and carry the input partition that owns them (its owner fires their grace deadline).
enum PostgresMigrations {
    static let all: [(name: String, sql: [String])] = [
        (
            "001_ledger",
            [
                """
                CREATE TABLE customers (
                    customer_id TEXT PRIMARY KEY,
                    partition INTEGER NOT NULL,
                    credits_enabled BOOLEAN NOT NULL,
                    balance BIGINT NOT NULL,
                    last_entry_id BIGINT NOT NULL,
                    balance_updated_at BIGINT,
                    block_state SMALLINT NOT NULL,          -- 0 active, 1 grace, 2 blocked
                    block_at BIGINT,
                    depleted_by BIGINT,
                    depleted_by_command TEXT,
                    low_credit_alerted BOOLEAN NOT NULL,
                    price_per_minute BIGINT,
                    grace_period_seconds BIGINT NOT NULL,
                    low_credit_threshold BIGINT,
                    low_credit_alerts BOOLEAN NOT NULL,
                    tool_call_price BIGINT NOT NULL,
                    credits_per_usd BIGINT
                )
                """,
                "CREATE INDEX customers_grace_deadline ON customers (partition, block_at) WHERE block_state = 1",
                """
                CREATE TABLE entries (
                    customer_id TEXT NOT NULL,
                    entry_id BIGINT NOT NULL,
                    kind SMALLINT NOT NULL,                 -- 0 added, 1 deducted, 2 used
                    amount BIGINT NOT NULL,
                    balance BIGINT NOT NULL,
                    note TEXT NOT NULL,
                    source_kind SMALLINT NOT NULL,          -- 0 usage, 1 command
                    source_id TEXT NOT NULL,
                    actor TEXT,
                    call_part BIGINT,
                    ai_part BIGINT,
                    tool_part BIGINT,
                    warnings TEXT,
                    deduct_reason TEXT,
                    occurred_at BIGINT NOT NULL,
                    recorded_at BIGINT NOT NULL,
                    PRIMARY KEY (customer_id, entry_id)
                )
                """,
                "CREATE INDEX entries_used_by_time ON entries (customer_id, occurred_at) WHERE kind = 2",
                """
                CREATE TABLE idempotency_keys (
                    customer_id TEXT NOT NULL,
                    kind SMALLINT NOT NULL,                 -- 0 usage event, 1 command
                    key TEXT NOT NULL,
                    digest BYTEA NOT NULL,                  -- SHA-256 of the input's canonical form
                    status SMALLINT NOT NULL,               -- 0 applied, 1 rejected
                    reason TEXT,
                    entry_id BIGINT,
                    recorded_at BIGINT NOT NULL,
                    PRIMARY KEY (customer_id, kind, key)
                )
                """,
                "CREATE INDEX idempotency_keys_by_time ON idempotency_keys (recorded_at)",
                """
                CREATE TABLE outbox (
                    seq BIGSERIAL PRIMARY KEY,
                    partition INTEGER NOT NULL,             -- published by the owner of this input partition
                    topic SMALLINT NOT NULL,
                    key TEXT NOT NULL,
                    value TEXT NOT NULL
                )
                """,
                "CREATE INDEX outbox_by_partition ON outbox (partition, seq)",
                """
                CREATE TABLE partition_positions (          -- the fence: next offset per input partition
                    topic TEXT NOT NULL,
                    partition INTEGER NOT NULL,
                    next_offset BIGINT NOT NULL,
                    PRIMARY KEY (topic, partition)
                )
                """,
            ]
        ),
        (
            "002_account_version_and_usage_window",
            [
                // credits.accounts: the version grows with every change of the account; the usage
                // window holds the used credits per hour of the last 24 hours (the burn rate).
                "ALTER TABLE customers ADD COLUMN version BIGINT NOT NULL DEFAULT 0",
                "ALTER TABLE customers ADD COLUMN usage_window TEXT",
            ]
        ),
        (
            "003_audit",
            [
                // Every applied command that changed a customer: who, which, when, what from what.
                """
                CREATE TABLE audit (
                    seq BIGSERIAL PRIMARY KEY,
                    customer_id TEXT NOT NULL,
                    command_id TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    type TEXT NOT NULL,
                    issued_at BIGINT NOT NULL,
                    recorded_at BIGINT NOT NULL,
                    changes TEXT NOT NULL               -- JSON array of {field, from, to}
                )
                """,
                "CREATE INDEX audit_by_customer ON audit (customer_id, seq)",
            ]
        ),
        (
            "004_account_version_time",
            [
                // When the version last grew (the updated_at of the newest credits.accounts state).
                "ALTER TABLE customers ADD COLUMN version_at BIGINT"
            ]
        ),
        (
            "005_call_holds_and_deadlines",
            [
                // Live calls (version 3): hold settings, the calls (CallBook's stored form), their
                // total hold and count, and the customer's one next deadline (the end of a grace
                // period or a call's hold expiry), indexed per partition for its owner.
                "ALTER TABLE customers ADD COLUMN call_hold_seconds BIGINT NOT NULL DEFAULT 300",
                "ALTER TABLE customers ADD COLUMN call_hold_rate BIGINT",
                "ALTER TABLE customers ADD COLUMN calls TEXT",
                "ALTER TABLE customers ADD COLUMN held BIGINT NOT NULL DEFAULT 0",
                "ALTER TABLE customers ADD COLUMN live_calls BIGINT NOT NULL DEFAULT 0",
                "ALTER TABLE customers ADD COLUMN next_deadline BIGINT",
                "UPDATE customers SET next_deadline = block_at WHERE block_state = 1 AND balance <= 0",
                "DROP INDEX customers_grace_deadline",
                """
                CREATE INDEX customers_next_deadline ON customers (partition, next_deadline)
                WHERE next_deadline IS NOT NULL
                """,
            ]
        ),
        (
            "006_grants_top_up_and_hash_chain",
            [
                // Expiring credits, automatic top-up and the verifiable history (version 3). Grants
                // with credits left, one row each (deleted once nothing is left); active_grants
                // counts them so a customer without any is read without this table.
                """
                CREATE TABLE grants (
                    customer_id TEXT NOT NULL,
                    entry_id BIGINT NOT NULL,
                    amount BIGINT NOT NULL,
                    remaining BIGINT NOT NULL,
                    expires_at BIGINT,
                    note TEXT NOT NULL,
                    added_at BIGINT NOT NULL,
                    PRIMARY KEY (customer_id, entry_id)
                )
                """,
                "ALTER TABLE customers ADD COLUMN active_grants BIGINT NOT NULL DEFAULT 0",
                // Credits added before never expire and were drawn oldest first: what is left of
                // them is the balance, held by the newest added entries.
                """
                INSERT INTO grants (customer_id, entry_id, amount, remaining, expires_at, note, added_at)
                SELECT customer_id, entry_id, amount, LEAST(amount, balance - newer), NULL, note, recorded_at FROM (
                    SELECT e.customer_id, e.entry_id, e.amount, e.note, e.recorded_at, c.balance,
                           coalesce(sum(e.amount) OVER (PARTITION BY e.customer_id ORDER BY e.entry_id DESC
                                                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS newer
                    FROM entries e JOIN customers c ON c.customer_id = e.customer_id
                    WHERE e.kind = 0 AND c.balance > 0
                ) g WHERE balance - newer > 0
                """,
                """
                UPDATE customers c SET active_grants = g.n
                FROM (SELECT customer_id, count(*) AS n FROM grants GROUP BY customer_id) g WHERE g.customer_id = c.customer_id
                """,
                "ALTER TABLE entries ADD COLUMN expires_at BIGINT",
                "ALTER TABLE entries ADD COLUMN hash TEXT",
                "ALTER TABLE customers ADD COLUMN head_hash TEXT",
                "ALTER TABLE customers ADD COLUMN auto_top_up_below BIGINT",
                "ALTER TABLE customers ADD COLUMN auto_top_up_package TEXT",
                "ALTER TABLE customers ADD COLUMN top_up_requested BOOLEAN NOT NULL DEFAULT false",
            ]
        ),
        (
            "007_partition_owners",
            [
                // The ownership fence: every `own` of a partition raises its epoch, and every
                // transaction that writes for a partition holds its row FOR SHARE and finds the epoch
                // its instance took, so that an instance that lost the partition commits nothing more
                // for it, even while the new owner has moved no position yet.
                """
                CREATE TABLE partition_owners (
                    topic TEXT NOT NULL,
                    partition INTEGER NOT NULL,
                    epoch BIGINT NOT NULL,
                    PRIMARY KEY (topic, partition)
                )
                """
            ]
        ),
        (
            "008_outbox_groups",
            [
                // The outbox as one row per input partition for each part of a batch, its messages in
                // arrays in order (`PostgresOutbox`): a row per message was a third of the database's
                // work per usage event. What the old outbox holds moves over in its order.
                """
                CREATE TABLE outbox_groups (
                    seq BIGSERIAL PRIMARY KEY,              -- a message's seq: seq × 2^20 + its place
                    partition INTEGER NOT NULL,             -- published by the owner of this input partition
                    topics SMALLINT[] NOT NULL,
                    keys TEXT[] NOT NULL,
                    messages TEXT[] NOT NULL,
                    delivered INTEGER NOT NULL DEFAULT 0    -- the first messages, delivered and forgotten
                )
                """,
                // A group's messages are stored compressed out of line: lz4 took half the time of
                // PostgreSQL's default (pglz) per usage event. A server built without lz4 keeps pglz.
                """
                DO $$ BEGIN
                    ALTER TABLE outbox_groups ALTER COLUMN keys SET COMPRESSION lz4, ALTER COLUMN messages SET COMPRESSION lz4;
                EXCEPTION WHEN feature_not_supported THEN
                    RAISE NOTICE 'lz4 is not available: the outbox is compressed with pglz';
                END $$
                """,
                "CREATE INDEX outbox_groups_by_partition ON outbox_groups (partition, seq)",
                """
                INSERT INTO outbox_groups (partition, topics, keys, messages)
                SELECT partition, ARRAY[topic], ARRAY[key], ARRAY[value] FROM outbox ORDER BY seq
                """,
                "DROP TABLE outbox",
            ]
        ),
    ]

    /// Migrations that need the ledger's own code, run once after all of `all`.
    static let programs: [(name: String, run: @Sendable (PostgresSession) throws(StoreError) -> Void)] = [
        ("006_hash_chain_backfill", { session throws(StoreError) in try backfillHashes(session) })
    ]

    /// Gives the entries stored before the verifiable history their chain hashes (each
    /// customer's in entry order from `EntryHash.genesis`) and every customer its `head_hash`.
    static func backfillHashes(_ session: PostgresSession) throws(StoreError) {
        let rows = try session.query(
            """
            SELECT \(unescaped: PostgresRecords.entrySelect) FROM entries WHERE hash IS NULL ORDER BY customer_id, entry_id
            """, "reading entries without a hash")
        var customers: [String] = []
        var entryIDs: [Int64] = []
        var hashes: [String] = []
        var heads: [String: String] = [:]
        var previous = EntryHash.genesis
        for row in rows {
            let entry = try PostgresRecords.entry(from: PostgresColumns(row))
            if customers.last != entry.customerID { previous = EntryHash.genesis }
            previous = EntryHash.of(entry, previous: previous)
            customers.append(entry.customerID)
            entryIDs.append(entry.entryID)
            hashes.append(previous.description)
            heads[entry.customerID] = previous.description
        }
        var start = 0
        while start < hashes.count {
            let end = min(hashes.count, start + 10_000)
            try session.query(
                """
                UPDATE entries e SET hash = u.h
                FROM unnest(\(Array(customers[start..<end]))::text[], \(Array(entryIDs[start..<end]))::bigint[],
                            \(Array(hashes[start..<end]))::text[]) AS u(c, i, h)
                WHERE e.customer_id = u.c AND e.entry_id = u.i
                """, "writing entry hashes")
            start = end
        }
        let headIDs = Array(heads.keys)
        guard !headIDs.isEmpty else { return }
        try session.query(
            """
            UPDATE customers c SET head_hash = u.h FROM unnest(\(headIDs)::text[], \(headIDs.map { heads[$0] ?? "" })::text[]) AS u(c, h)
            WHERE c.customer_id = u.c
            """, "writing head hashes")
    }

    /// Applies the migrations the database has not seen yet, one instance at a time.
    static func migrate(_ session: PostgresSession) throws(StoreError) {
        try session.transaction { () throws(StoreError) in
            try session.query("SELECT pg_advisory_xact_lock(7242031)", "locking the schema")
            try session.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """, "creating schema_migrations")
            var done = Set<String>()
            for row in try session.query("SELECT name FROM schema_migrations", "reading migrations") {
                done.insert(try PostgresColumns(row).string(0))
            }
            for migration in all where !done.contains(migration.name) {
                for statement in migration.sql {
                    try session.query(PostgresQuery(unsafeSQL: statement), "migration \(migration.name)")
                }
                try session.query(
                    "INSERT INTO schema_migrations (name) VALUES (\(migration.name))",
                    "recording migration \(migration.name)")
            }
            for program in programs where !done.contains(program.name) {
                try program.run(session)
                try session.query(
                    "INSERT INTO schema_migrations (name) VALUES (\(program.name))", "recording migration \(program.name)")
            }
        }
    }
}
