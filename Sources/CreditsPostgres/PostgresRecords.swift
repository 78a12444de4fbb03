import CreditsCore
import CreditsStore
import PostgresNIO

/// How customers and entries are written to and read from their PostgreSQL tables.
enum PostgresRecords {
    // MARK: Customers

    static let customerColumns = [
        "customer_id", "partition", "credits_enabled", "balance", "last_entry_id", "balance_updated_at", "block_state",
        "block_at", "depleted_by", "depleted_by_command", "low_credit_alerted", "price_per_minute",
        "grace_period_seconds", "low_credit_threshold", "low_credit_alerts", "tool_call_price", "credits_per_usd",
        "version", "usage_window", "version_at", "call_hold_seconds", "call_hold_rate", "calls", "held", "live_calls",
        "next_deadline", "head_hash", "auto_top_up_below", "auto_top_up_package", "top_up_requested", "active_grants",
    ]

    /// The position of `active_grants` in `customerColumns`.
    static let activeGrantsColumn = 30

    /// The columns `account(from:)` reads, from offset 0.
    static let customerSelect = customerColumns.joined(separator: ", ")

    /// The upsert's tail: a customer's state replaces the stored one.
    static let customerUpsert =
        " ON CONFLICT (customer_id) DO UPDATE SET "
        + customerColumns.dropFirst().map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")

    static func values(_ account: CustomerAccount, partition: Int32) -> [PostgresValue] {
        let settings = account.settings
        let block = StoredBlockState(account.blockState)
        return [
            .text(account.customerID), .int32(partition), .bool(account.creditsEnabled), .int(account.balance.micros),
            .int(account.lastEntryID), .int(account.balanceUpdatedAt?.millisecondsSinceEpoch), .int(block.code),
            .int(block.blockAt), .int(block.depletedBy), .text(block.depletedByCommand), .bool(account.lowCreditAlerted),
            .int(settings.pricePerMinute?.micros), .int(settings.gracePeriodSeconds),
            .int(settings.lowCreditThreshold?.micros), .bool(settings.lowCreditAlerts), .int(settings.toolCallPrice.micros),
            .int(settings.creditsPerUSD?.micros), .int(account.version), .text(account.usage.encoded),
            .int(account.versionedAt?.millisecondsSinceEpoch), .int(settings.callHoldSeconds),
            .int(settings.callHoldRate?.micros), .text(account.calls.encoded), .int(account.held.micros),
            .int(Int64(account.calls.live.count)), .int(account.nextDeadline?.millisecondsSinceEpoch),
            .text(account.lastEntryID > 0 ? account.headHash.description : nil), .int(settings.autoTopUpBelow?.micros),
            .text(settings.autoTopUpPackage),
            .bool(account.topUpRequested), .int(Int64(account.grants.active.count)),
        ]
    }

    static func account(from row: PostgresColumns) throws(StoreError) -> CustomerAccount {
        let blockState = StoredBlockState(
            code: try row.int(6), blockAt: try row.optionalInt(7),
            depletedBy: try row.optionalInt(8), depletedByCommand: try row.optionalString(9)
        ).state
        let settings = CustomerSettings(
            pricePerMinute: try row.optionalInt(11).map(CreditAmount.init(micros:)),
            gracePeriodSeconds: try row.int(12),
            lowCreditThreshold: try row.optionalInt(13).map(CreditAmount.init(micros:)),
            lowCreditAlerts: try row.bool(14),
            toolCallPrice: CreditAmount(micros: try row.int(15)),
            creditsPerUSD: try row.optionalInt(16).map(CreditAmount.init(micros:)),
            callHoldSeconds: try row.int(20), callHoldRate: try row.optionalInt(21).map(CreditAmount.init(micros:)),
            autoTopUpBelow: try row.optionalInt(27).map(CreditAmount.init(micros:)),
            autoTopUpPackage: try row.optionalString(28))
        return CustomerAccount(
            customerID: try row.string(0), creditsEnabled: try row.bool(2), balance: CreditAmount(micros: try row.int(3)),
            lastEntryID: try row.int(4),
            balanceUpdatedAt: try row.optionalInt(5).map(Timestamp.init(millisecondsSinceEpoch:)),
            blockState: blockState, lowCreditAlerted: try row.bool(10), settings: settings, version: try row.int(17),
            versionedAt: try row.optionalInt(19).map(Timestamp.init(millisecondsSinceEpoch:)),
            usage: UsageWindow(encoded: try row.optionalString(18)),
            calls: CallBook(encoded: try row.optionalString(22), customerID: try row.string(0)),
            headHash: try row.optionalString(26).flatMap { ChainHash(hex: $0) } ?? .genesis, topUpRequested: try row.bool(29))
    }

    /// The accounts of rows selected with `customerSelect`, in order, each with its grants (one
    /// more query, for the customers that have any).
    static func accounts(from rows: PostgresQueryResult, session: PostgresSession) throws(StoreError) -> [CustomerAccount] {
        var accounts: [CustomerAccount] = []
        var withGrants: [String] = []
        for row in rows {
            let columns = PostgresColumns(row)
            let account = try account(from: columns)
            if try columns.int(activeGrantsColumn) > 0 { withGrants.append(account.customerID) }
            accounts.append(account)
        }
        guard !withGrants.isEmpty else { return accounts }
        let grants = try grantsByCustomer(
            session.query(
                """
                SELECT \(unescaped: grantSelect) FROM grants WHERE customer_id = ANY(\(withGrants)::text[])
                """, "reading grants"))
        for index in accounts.indices {
            if let list = grants[accounts[index].customerID] {
                accounts[index].grants = GrantBook(stored: list, balance: accounts[index].balance)
            }
        }
        return accounts
    }

    // MARK: Grants

    /// The columns `grantsByCustomer` reads.
    static let grantSelect = "customer_id, entry_id, amount, remaining, expires_at, note, added_at"

    /// Grant rows selected with `grantSelect`, by customer, as stored.
    static func grantsByCustomer(_ rows: PostgresQueryResult) throws(StoreError) -> [String: [Grant]] {
        var grants: [String: [Grant]] = [:]
        for row in rows {
            let columns = PostgresColumns(row)
            grants[try columns.string(0), default: []].append(
                Grant(
                    entryID: try columns.int(1), amount: CreditAmount(micros: try columns.int(2)),
                    remaining: CreditAmount(micros: try columns.int(3)),
                    expiresAt: try columns.optionalInt(4).map(Timestamp.init(millisecondsSinceEpoch:)),
                    note: try columns.string(5), addedAt: Timestamp(millisecondsSinceEpoch: try columns.int(6))))
        }
        return grants
    }

    /// Writes the newest state of each changed grant: a delete of those with nothing left, an
    /// upsert of the others but each customer's first grant (`first`), whose remaining the
    /// balance gives unless the batch made it (`GrantBook.init(stored:balance:)`).
    static func write(
        grants changes: [(customer: String, change: GrantChange)], first: (String) -> Int64?, session: PostgresSession
    ) throws(StoreError) {
        guard !changes.isEmpty else { return }
        let writes = GrantWrites(changes, first: first)
        try session.send(
            writes.upserts, into: "grants",
            columns: ["customer_id", "entry_id", "amount", "remaining", "expires_at", "note", "added_at"],
            suffix: " ON CONFLICT (customer_id, entry_id) DO UPDATE SET remaining = EXCLUDED.remaining"
        ) {
            [
                .text($0.customer), .int($0.grant.entryID), .int($0.grant.amount.micros),
                .int($0.grant.remaining.micros), .int($0.grant.expiresAt?.millisecondsSinceEpoch), .text($0.grant.note),
                .int($0.grant.addedAt.millisecondsSinceEpoch),
            ]
        }
        let gone = writes.deletes
        guard !gone.isEmpty else { return }
        try session.send(
            """
            DELETE FROM grants g USING unnest(\(gone.map(\.customer))::text[], \(gone.map(\.grant.entryID))::bigint[]) AS d(c, e)
            WHERE g.customer_id = d.c AND g.entry_id = d.e
            """, "deleting spent grants")
    }

    // MARK: Audit

    static let auditColumns = ["customer_id", "command_id", "actor", "type", "issued_at", "recorded_at", "changes"]

    static func values(_ record: AuditRecord) -> [PostgresValue] {
        [
            .text(record.customerID), .text(record.commandID), .text(record.actor), .text(record.type),
            .int(record.issuedAt.millisecondsSinceEpoch), .int(record.recordedAt.millisecondsSinceEpoch),
            .text(record.changesJSON),
        ]
    }

    // MARK: Entries

    static let kinds: [LedgerEntry.Kind] = [.added, .deducted, .used, .expired]

    static let entryColumns = [
        "customer_id", "entry_id", "kind", "amount", "balance", "note", "source_kind", "source_id", "actor", "call_part",
        "ai_part", "tool_part", "warnings", "deduct_reason", "occurred_at", "recorded_at", "expires_at", "hash",
    ]

    static let entrySelect = entryColumns.joined(separator: ", ")

    static func values(_ entry: LedgerEntry) -> [PostgresValue] {
        let sourceKind = entry.source.code
        let warnings = entry.breakdown.flatMap { $0.warnings.isEmpty ? nil : $0.warnings.joined(separator: ",") }
        return [
            .text(entry.customerID), .int(entry.entryID), .int(Int64(kinds.firstIndex(of: entry.kind) ?? 0)),
            .int(entry.amount.micros), .int(entry.balance.micros), .text(entry.note), .int(sourceKind),
            .text(entry.source.id), .text(entry.actor), .int(entry.breakdown?.call.micros),
            .int(entry.breakdown?.ai.micros), .int(entry.breakdown?.toolCalls.micros), .text(warnings),
            .text(entry.deductReason?.rawValue), .int(entry.occurredAt.millisecondsSinceEpoch),
            .int(entry.recordedAt.millisecondsSinceEpoch), .int(entry.expiresAt?.millisecondsSinceEpoch),
            .text(entry.hash.description),
        ]
    }

    static func entry(from row: PostgresColumns) throws(StoreError) -> LedgerEntry {
        let sourceID = try row.string(7)
        var breakdown: Pricing.Charge?
        if let call = try row.optionalInt(9) {
            breakdown = Pricing.Charge(
                call: CreditAmount(micros: call), ai: CreditAmount(micros: try row.optionalInt(10) ?? 0),
                toolCalls: CreditAmount(micros: try row.optionalInt(11) ?? 0),
                warnings: try row.optionalString(12).map { $0.split(separator: ",").map(String.init) } ?? [])
        }
        return LedgerEntry(
            customerID: try row.string(0), entryID: try row.int(1), kind: kinds[Int(try row.int(2)) % kinds.count],
            amount: CreditAmount(micros: try row.int(3)), balance: CreditAmount(micros: try row.int(4)),
            note: try row.string(5),
            source: LedgerEntry.Source(code: try row.int(6), id: sourceID),
            actor: try row.optionalString(8), breakdown: breakdown,
            deductReason: try row.optionalString(13).flatMap(AdminCommand.DeductReason.init(rawValue:)),
            occurredAt: Timestamp(millisecondsSinceEpoch: try row.int(14)),
            recordedAt: Timestamp(millisecondsSinceEpoch: try row.int(15)),
            expiresAt: try row.optionalInt(16).map(Timestamp.init(millisecondsSinceEpoch:)),
            hash: try row.optionalString(17).flatMap { ChainHash(hex: $0) } ?? .genesis)
    }
}
