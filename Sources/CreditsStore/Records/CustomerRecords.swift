import CreditsCore

/// Reads and writes the `customers` table.
struct CustomerRecords {
    let connection: SQLiteConnection

    static let columns = """
        customer_num, customer_id, credits_enabled, balance, last_entry_id, balance_updated_at, block_state, block_at,
        depleted_by, low_credit_alerted, price_per_minute, grace_period_seconds, low_credit_threshold,
        low_credit_alerts, tool_call_price, credits_per_usd, last_entry_seq, depleted_by_command, version, usage_window, version_at,
        call_hold_seconds, call_hold_rate, calls, held, live_calls, next_deadline, head_hash, auto_top_up_below,
        auto_top_up_package, top_up_requested, active_grants
        """

    /// A stored customer: its row number, state and the seq of its newest entry.
    struct Stored {
        var num: Int64
        var account: CustomerAccount
        var lastEntrySeq: Int64?
    }

    /// The stored customer and its row number, or nil if never seen.
    func load(_ customerID: String) throws(StoreError) -> Stored? {
        let statement = try connection.statement("SELECT \(Self.columns) FROM customers WHERE customer_id = ?")
        statement.bind(1, customerID)
        guard
            let (found, activeGrants) = try statement.firstRow({
                (Stored(num: $0.int64(0), account: Self.account(from: $0), lastEntrySeq: $0.optionalInt64(16)), $0.int64(31))
            })
        else { return nil }
        var stored = found
        if activeGrants > 0 {
            stored.account.grants = try GrantRecords(connection: connection).active(
                customerNum: stored.num, balance: stored.account.balance)
        }
        return stored
    }

    /// Adds a new customer row with default settings and returns its number.
    func insert(_ account: CustomerAccount) throws(StoreError) -> Int64 {
        let statement = try connection.statement("INSERT INTO customers(customer_id) VALUES (?)")
        statement.bind(1, account.customerID)
        try statement.run()
        let num = connection.lastInsertRowID
        try updateAll([CachedCustomer(Stored(num: num, account: account, lastEntrySeq: nil))])
        return num
    }

    static let writeColumns = [
        "customer_num", "customer_id", "credits_enabled", "balance", "last_entry_id", "balance_updated_at", "block_state",
        "block_at", "depleted_by", "low_credit_alerted", "price_per_minute", "grace_period_seconds",
        "low_credit_threshold", "low_credit_alerts", "tool_call_price", "credits_per_usd", "last_entry_seq",
        "depleted_by_command", "version", "usage_window", "version_at", "call_hold_seconds", "call_hold_rate", "calls",
        "held", "live_calls", "next_deadline", "head_hash", "auto_top_up_below", "auto_top_up_package", "top_up_requested",
        "active_grants",
    ]

    /// Writes the state of existing customers, 64 rows per statement (an upsert on the row number).
    func updateAll(_ customers: [CachedCustomer]) throws(StoreError) {
        try connection.insert(customers, into: "customers", columns: Self.writeColumns, suffix: Self.upsert) {
            $1.stored.bind(to: &$0)
        }
    }

    /// What makes `updateAll`'s insert an update of every column but the row number and the id
    /// (built once: the customers of every batch are written with it).
    private static let upsert =
        " ON CONFLICT(customer_num) DO UPDATE SET "
        + writeColumns.dropFirst(2).map { "\($0) = excluded.\($0)" }.joined(separator: ", ")

    /// Customers with a deadline (`CustomerAccount.nextDeadline`) at or before `now`.
    func dueDeadlines(at now: Timestamp) throws(StoreError) -> [String] {
        let statement = try connection.statement(
            "SELECT customer_id FROM customers WHERE next_deadline <= ? ORDER BY next_deadline")
        statement.bind(1, now.millisecondsSinceEpoch)
        var ids: [String] = []
        while try statement.step() { ids.append(statement.string(0)) }
        return ids
    }

    /// The earliest pending deadline of any customer.
    func nextDeadline() throws(StoreError) -> Timestamp? {
        let statement = try connection.statement(
            "SELECT min(next_deadline) FROM customers WHERE next_deadline IS NOT NULL")  // the partial index
        return try statement.firstRow { $0.optionalInt64(0) }?.map(Timestamp.init(millisecondsSinceEpoch:))
    }

    /// Customers with credits enabled per block state name (`active`, `grace`, `blocked`).
    func blockStateCounts() throws(StoreError) -> [String: Int] {
        let statement = try connection.statement(
            "SELECT block_state, count(*) FROM customers WHERE credits_enabled = 1 GROUP BY block_state")
        var counts = ["active": 0, "grace": 0, "blocked": 0]
        while try statement.step() {
            counts[["active", "grace", "blocked"][Int(statement.int64(0)) % 3]] = Int(statement.int64(1))
        }
        return counts
    }

    /// Live calls and held credits over all customers.
    func liveCallTotals() throws(StoreError) -> LiveCallTotals {
        let statement = try connection.statement(
            "SELECT coalesce(sum(live_calls), 0), coalesce(sum(held), 0) FROM customers WHERE live_calls > 0")
        return try statement.firstRow {
            LiveCallTotals(calls: Int($0.int64(0)), held: CreditAmount(micros: $0.int64(1)))
        } ?? LiveCallTotals(calls: 0, held: .zero)
    }

    static func account(from row: SQLiteStatement) -> CustomerAccount {
        let blockState = StoredBlockState(
            code: row.int64(6), blockAt: row.optionalInt64(7), depletedBy: row.optionalInt64(8),
            depletedByCommand: row.optionalString(17)
        ).state
        let settings = CustomerSettings(
            pricePerMinute: row.optionalInt64(10).map(CreditAmount.init(micros:)),
            gracePeriodSeconds: row.int64(11),
            lowCreditThreshold: row.optionalInt64(12).map(CreditAmount.init(micros:)),
            lowCreditAlerts: row.int64(13) != 0,
            toolCallPrice: CreditAmount(micros: row.int64(14)),
            creditsPerUSD: row.optionalInt64(15).map(CreditAmount.init(micros:)),
            callHoldSeconds: row.int64(21), callHoldRate: row.optionalInt64(22).map(CreditAmount.init(micros:)),
            autoTopUpBelow: row.optionalInt64(28).map(CreditAmount.init(micros:)), autoTopUpPackage: row.optionalString(29))
        return CustomerAccount(
            customerID: row.string(1), creditsEnabled: row.int64(2) != 0, balance: CreditAmount(micros: row.int64(3)),
            lastEntryID: row.int64(4), balanceUpdatedAt: row.optionalInt64(5).map(Timestamp.init(millisecondsSinceEpoch:)),
            blockState: blockState, lowCreditAlerted: row.int64(9) != 0, settings: settings, version: row.int64(18),
            versionedAt: row.optionalInt64(20).map(Timestamp.init(millisecondsSinceEpoch:)),
            usage: UsageWindow(encoded: row.optionalString(19)),
            calls: CallBook(encoded: row.optionalString(23), customerID: row.string(1)),
            headHash: row.optionalHash(27) ?? .genesis, topUpRequested: row.int64(30) != 0)
    }
}

extension CustomerRecords.Stored {
    /// Binds the customer's values in `CustomerRecords.writeColumns` order.
    func bind(to binder: inout SQLiteRowBinder) {
        let block = StoredBlockState(account.blockState)
        binder.integer(num)
        binder.text(account.customerID)
        binder.integer(account.creditsEnabled ? 1 : 0)
        binder.integer(account.balance.micros)
        binder.integer(account.lastEntryID)
        binder.integer(account.balanceUpdatedAt?.millisecondsSinceEpoch)
        binder.integer(block.code)
        binder.integer(block.blockAt)
        binder.integer(block.depletedBy)
        binder.integer(account.lowCreditAlerted ? 1 : 0)
        binder.integer(account.settings.pricePerMinute?.micros)
        binder.integer(account.settings.gracePeriodSeconds)
        binder.integer(account.settings.lowCreditThreshold?.micros)
        binder.integer(account.settings.lowCreditAlerts ? 1 : 0)
        binder.integer(account.settings.toolCallPrice.micros)
        binder.integer(account.settings.creditsPerUSD?.micros)
        binder.integer(lastEntrySeq)
        binder.text(block.depletedByCommand)
        binder.integer(account.version)
        binder.text(account.usage.encoded)
        binder.integer(account.versionedAt?.millisecondsSinceEpoch)
        binder.integer(account.settings.callHoldSeconds)
        binder.integer(account.settings.callHoldRate?.micros)
        binder.text(account.calls.encoded)
        binder.integer(account.held.micros)
        binder.integer(Int64(account.calls.live.count))
        binder.integer(account.nextDeadline?.millisecondsSinceEpoch)
        binder.hash(account.lastEntryID > 0 ? account.headHash : nil)
        binder.integer(account.settings.autoTopUpBelow?.micros)
        binder.text(account.settings.autoTopUpPackage)
        binder.integer(account.topUpRequested ? 1 : 0)
        binder.integer(Int64(account.grants.active.count))
    }
}
