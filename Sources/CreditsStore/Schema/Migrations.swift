/// The schema's history: named migrations applied in order at open and recorded in
/// `schema_migrations`. Never edit a released migration; append a new one.
enum Migrations {
    static let all: [(name: String, sql: String)] = [
        (
            "001_ledger",
            """
            CREATE TABLE customers (
                customer_num INTEGER PRIMARY KEY,
                customer_id TEXT NOT NULL UNIQUE,
                credits_enabled INTEGER NOT NULL DEFAULT 0,
                balance INTEGER NOT NULL DEFAULT 0,
                last_entry_id INTEGER NOT NULL DEFAULT 0,
                balance_updated_at INTEGER,
                block_state INTEGER NOT NULL DEFAULT 0,   -- 0 active, 1 grace, 2 blocked
                block_at INTEGER,
                depleted_by INTEGER,
                low_credit_alerted INTEGER NOT NULL DEFAULT 0,
                last_entry_seq INTEGER,                   -- newest entry's seq: the head of the history chain
                price_per_minute INTEGER,
                grace_period_seconds INTEGER NOT NULL DEFAULT 300,
                low_credit_threshold INTEGER,
                low_credit_alerts INTEGER NOT NULL DEFAULT 0,
                tool_call_price INTEGER NOT NULL DEFAULT 30000,
                credits_per_usd INTEGER
            );
            CREATE INDEX customers_grace_deadline ON customers(block_at) WHERE block_state = 1;

            -- Every table written per event is append-only (keys in write order), so a batch dirties
            -- few pages. A customer's history is a chain through prev_seq, newest first.
            -- Amounts are micro-credits; times are milliseconds since the epoch.
            CREATE TABLE entries (
                seq INTEGER PRIMARY KEY,
                customer_num INTEGER NOT NULL,
                entry_id INTEGER NOT NULL,
                prev_seq INTEGER,                         -- the customer's previous entry
                kind INTEGER NOT NULL,                    -- 0 added, 1 deducted, 2 used
                amount INTEGER NOT NULL,
                balance INTEGER NOT NULL,
                note TEXT NOT NULL,
                source_kind INTEGER NOT NULL,             -- 0 usage, 1 command
                source_id TEXT NOT NULL,
                actor TEXT,
                call_part INTEGER,
                ai_part INTEGER,
                tool_part INTEGER,
                warnings TEXT,
                deduct_reason TEXT,
                occurred_at INTEGER NOT NULL,
                recorded_at INTEGER NOT NULL
            );

            -- Every applied event_id / command_id per customer. Looked up through an in-memory
            -- index of key hashes built at open; the row holds the full key, so hashes never collide.
            CREATE TABLE idempotency_keys (
                seq INTEGER PRIMARY KEY,
                customer_num INTEGER NOT NULL,
                kind INTEGER NOT NULL,                    -- 0 usage event, 1 command
                key_hash INTEGER NOT NULL,
                key TEXT NOT NULL,
                fingerprint INTEGER NOT NULL,
                status INTEGER NOT NULL,                  -- 0 applied, 1 rejected
                reason TEXT,
                entry_id INTEGER
            );

            -- Output messages not yet acknowledged by the broker, in the order they happened.
            -- A balance-changed message is stored as a reference to its entry (value NULL).
            CREATE TABLE outbox (
                seq INTEGER PRIMARY KEY,
                topic INTEGER NOT NULL,
                key TEXT NOT NULL,
                value TEXT,
                entry_seq INTEGER
            );

            -- Next offset to consume per input partition, committed with the batch it ends.
            CREATE TABLE consumer_offsets (
                topic TEXT NOT NULL,
                partition INTEGER NOT NULL,
                next_offset INTEGER NOT NULL,
                PRIMARY KEY (topic, partition)
            ) WITHOUT ROWID;
            """
        ),
        (
            "002_idempotency_key_time",
            """
            -- When each key was recorded (ms since the epoch), for the optional retention of old keys.
            -- Keys recorded before this migration have NULL and count as oldest.
            ALTER TABLE idempotency_keys ADD COLUMN recorded_at INTEGER;
            """
        ),
        (
            "003_idempotency_key_digest",
            """
            -- SHA-256 of the input's canonical form (CanonicalForm): what a repeat is compared with.
            -- Keys recorded before this migration have NULL and are compared by the old 64-bit
            -- `fingerprint`; newer keys store 0 there.
            ALTER TABLE idempotency_keys ADD COLUMN digest BLOB;
            """
        ),
        (
            "004_depleted_by_command",
            """
            -- A grace period started by enable_credits at a balance <= 0 names that command (its
            -- depleted and blocked events are named after it); depleted_by then holds no entry.
            ALTER TABLE customers ADD COLUMN depleted_by_command TEXT;
            """
        ),
        (
            "005_used_entries_by_time",
            """
            -- Usage buckets read a customer's used entries by occurred_at (which may lie before or
            -- after recorded_at), without walking the history.
            CREATE INDEX entries_used_by_time ON entries(customer_num, occurred_at) WHERE kind = 2;
            """
        ),
        (
            "006_idempotency_key_runs",
            """
            -- The idempotency keys by hash, in runs: each run is the sorted (key_hash, seq) of one
            -- range of seqs, written once (KeyIndex). Appending a run writes few pages, where an index
            -- updated key by key would dirty a random page for every new key.
            CREATE TABLE key_runs (
                run INTEGER NOT NULL,
                key_hash INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                PRIMARY KEY (run, key_hash, seq)
            ) WITHOUT ROWID;
            CREATE TABLE key_run_ranges (
                run INTEGER PRIMARY KEY,
                first_seq INTEGER NOT NULL,
                last_seq INTEGER NOT NULL
            );
            """
        ),
        (
            "007_account_version_and_usage_window",
            """
            -- credits.accounts: the account's version (grows with every change) and its used credits
            -- per hour over the last 24 hours (UsageWindow's stored form), for the burn rate.
            ALTER TABLE customers ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE customers ADD COLUMN usage_window TEXT;
            """
        ),
        (
            "008_outbox_account_time",
            """
            -- An account state in the outbox is a reference to its customer (value NULL) and the time
            -- of the state; it is encoded from the customer's row when produced.
            ALTER TABLE outbox ADD COLUMN at INTEGER;
            """
        ),
        (
            "009_audit",
            """
            -- Every applied command that changed a customer: who, which, when, and what from what
            -- (changes: a JSON array of {field, from, to}). Written with the batch.
            CREATE TABLE audit (
                seq INTEGER PRIMARY KEY,
                customer_num INTEGER NOT NULL,
                command_id TEXT NOT NULL,
                actor TEXT NOT NULL,
                type TEXT NOT NULL,
                issued_at INTEGER NOT NULL,
                recorded_at INTEGER NOT NULL,
                changes TEXT NOT NULL
            );
            CREATE INDEX audit_by_customer ON audit(customer_num, seq);
            """
        ),
        (
            "010_account_version_time",
            """
            -- When the version last grew (the updated_at of the newest credits.accounts state): an
            -- account state sent again after a crash is then the same message.
            ALTER TABLE customers ADD COLUMN version_at INTEGER;
            """
        ),
        (
            "011_call_holds_and_deadlines",
            """
            -- Live calls (version 3): the hold settings, the calls (CallBook's stored form), their
            -- total hold and count (for listings and metrics without decoding), and the customer's
            -- one next deadline (CustomerAccount.nextDeadline: the end of a grace period or a
            -- call's hold expiry), indexed, which replaces the index on block_at.
            ALTER TABLE customers ADD COLUMN call_hold_seconds INTEGER NOT NULL DEFAULT 300;
            ALTER TABLE customers ADD COLUMN call_hold_rate INTEGER;
            ALTER TABLE customers ADD COLUMN calls TEXT;
            ALTER TABLE customers ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE customers ADD COLUMN live_calls INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE customers ADD COLUMN next_deadline INTEGER;
            UPDATE customers SET next_deadline = block_at WHERE block_state = 1 AND balance <= 0;
            DROP INDEX customers_grace_deadline;
            CREATE INDEX customers_next_deadline ON customers(next_deadline) WHERE next_deadline IS NOT NULL;
            """
        ),
        (
            "012_grants_top_up_and_hash_chain",
            """
            -- Expiring credits, automatic top-up and the verifiable history (version 3).
            -- Grants with credits left (an added entry's remaining credits, in micro-credits), one
            -- row each: a batch writes the rows of the grants it drew from, and deletes a grant once
            -- nothing is left of it (its entry stays in the history). active_grants counts them,
            -- so a customer without any is loaded without a look at this table.
            CREATE TABLE grants (
                customer_num INTEGER NOT NULL,
                entry_id INTEGER NOT NULL,
                amount INTEGER NOT NULL,
                remaining INTEGER NOT NULL,
                expires_at INTEGER,
                note TEXT NOT NULL,
                added_at INTEGER NOT NULL,
                PRIMARY KEY (customer_num, entry_id)
            ) WITHOUT ROWID;
            ALTER TABLE customers ADD COLUMN active_grants INTEGER NOT NULL DEFAULT 0;
            -- Credits added before this change never expire and were drawn oldest first, so what is
            -- left of them is the balance, held by the newest added entries.
            INSERT INTO grants(customer_num, entry_id, amount, remaining, expires_at, note, added_at)
            SELECT customer_num, entry_id, amount, min(amount, balance - newer), NULL, note, recorded_at FROM (
                SELECT e.customer_num, e.entry_id, e.amount, e.note, e.recorded_at, c.balance,
                       coalesce(sum(e.amount) OVER (PARTITION BY e.customer_num ORDER BY e.entry_id DESC
                                                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS newer
                FROM entries e JOIN customers c ON c.customer_num = e.customer_num
                WHERE e.kind = 0 AND c.balance > 0
            ) WHERE balance - newer > 0;
            UPDATE customers SET active_grants = (SELECT count(*) FROM grants g WHERE g.customer_num = customers.customer_num);
            ALTER TABLE entries ADD COLUMN expires_at INTEGER;        -- added entries: when the grant expires
            ALTER TABLE entries ADD COLUMN hash BLOB;                 -- EntryHash: the chain over the customer's entries (32 bytes)
            ALTER TABLE customers ADD COLUMN head_hash BLOB;          -- the newest entry's hash (32 bytes)
            ALTER TABLE customers ADD COLUMN auto_top_up_below INTEGER;
            ALTER TABLE customers ADD COLUMN auto_top_up_package TEXT;
            ALTER TABLE customers ADD COLUMN top_up_requested INTEGER NOT NULL DEFAULT 0;
            """
        ),
    ]

    /// Steps that need the ledger's own code, each run once after the SQL migration of the same
    /// number (recorded under its own name).
    static let programs: [(name: String, run: @Sendable (SQLiteConnection) throws(StoreError) -> Void)] = [
        ("012_hash_chain_backfill", { connection throws(StoreError) in try HashBackfill.run(connection) })
    ]

    /// Applies the migrations `connection` has not seen yet.
    static func migrate(_ connection: SQLiteConnection) throws(StoreError) {
        try connection.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        let applied = try connection.statement("SELECT name FROM schema_migrations")
        var done = Set<String>()
        while try applied.step() { done.insert(applied.string(0)) }
        func record(_ name: String) throws(StoreError) {
            let record = try connection.statement("INSERT INTO schema_migrations(name, applied_at) VALUES (?, datetime('now'))")
            record.bind(1, name)
            try record.run()
        }
        for migration in all where !done.contains(migration.name) {
            try connection.transaction { () throws(StoreError) in
                try connection.execute(migration.sql)
                try record(migration.name)
            }
        }
        for program in programs where !done.contains(program.name) {
            try connection.transaction { () throws(StoreError) in
                try program.run(connection)
                try record(program.name)
            }
        }
    }
}
