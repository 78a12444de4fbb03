import CreditsCore
import CreditsStore

/// How customers and entries are written to and read from their PostgreSQL tables.
enum PostgresRecords {
    // MARK: Customers

    static let customerColumns = [
        "customer_id", "partition", "credits_enabled", "balance", "last_entry_id", "balance_updated_at", "block_state",
        "block_at", "depleted_by", "depleted_by_command", "low_credit_alerted", "price_per_minute",
        "grace_period_seconds", "low_credit_threshold", "low_credit_alerts", "tool_call_price", "credits_per_usd",
        "version", "usage_window", "version_at", "call_hold_seconds", "call_hold_rate", "calls", "held", "live_calls",
        "next_deadline",
    ]

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
            callHoldSeconds: try row.int(20), callHoldRate: try row.optionalInt(21).map(CreditAmount.init(micros:)))
        return CustomerAccount(
            customerID: try row.string(0), creditsEnabled: try row.bool(2), balance: CreditAmount(micros: try row.int(3)),
            lastEntryID: try row.int(4),
            balanceUpdatedAt: try row.optionalInt(5).map(Timestamp.init(millisecondsSinceEpoch:)),
            blockState: blockState, lowCreditAlerted: try row.bool(10), settings: settings, version: try row.int(17),
            versionedAt: try row.optionalInt(19).map(Timestamp.init(millisecondsSinceEpoch:)),
            usage: UsageWindow(encoded: try row.optionalString(18)),
            calls: CallBook(encoded: try row.optionalString(22), customerID: try row.string(0)))
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

    static let kinds: [LedgerEntry.Kind] = [.added, .deducted, .used]

    static let entryColumns = [
        "customer_id", "entry_id", "kind", "amount", "balance", "note", "source_kind", "source_id", "actor", "call_part",
        "ai_part", "tool_part", "warnings", "deduct_reason", "occurred_at", "recorded_at",
    ]

    static let entrySelect = entryColumns.joined(separator: ", ")

    static func values(_ entry: LedgerEntry) -> [PostgresValue] {
        let sourceKind: Int64 = if case .usage = entry.source { 0 } else { 1 }
        let warnings = entry.breakdown.flatMap { $0.warnings.isEmpty ? nil : $0.warnings.joined(separator: ",") }
        return [
            .text(entry.customerID), .int(entry.entryID), .int(Int64(kinds.firstIndex(of: entry.kind) ?? 0)),
            .int(entry.amount.micros), .int(entry.balance.micros), .text(entry.note), .int(sourceKind),
            .text(entry.source.id), .text(entry.actor), .int(entry.breakdown?.call.micros),
            .int(entry.breakdown?.ai.micros), .int(entry.breakdown?.toolCalls.micros), .text(warnings),
            .text(entry.deductReason?.rawValue), .int(entry.occurredAt.millisecondsSinceEpoch),
            .int(entry.recordedAt.millisecondsSinceEpoch),
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
            customerID: try row.string(0), entryID: try row.int(1), kind: kinds[Int(try row.int(2)) % 3],
            amount: CreditAmount(micros: try row.int(3)), balance: CreditAmount(micros: try row.int(4)),
            note: try row.string(5),
            source: try row.int(6) == 0 ? .usage(eventID: sourceID) : .command(commandID: sourceID),
            actor: try row.optionalString(8), breakdown: breakdown,
            deductReason: try row.optionalString(13).flatMap(AdminCommand.DeductReason.init(rawValue:)),
            occurredAt: Timestamp(millisecondsSinceEpoch: try row.int(14)),
            recordedAt: Timestamp(millisecondsSinceEpoch: try row.int(15)))
    }
}
