/// The result of applying one input: the customer's new state, the entries it made and the
/// events to publish, in order; then, when the account changed, its new state.
public struct LedgerTransition: Sendable, Equatable {
    public var account: CustomerAccount
    public var entries: [LedgerEntry] = []
    /// The events to publish, in order, but the account's new state (see `accountState`).
    public var events: [OutputEvent] = []
    /// Whether the account changed (its version grew): its new state goes to `credits.accounts`
    /// after `events`. Not built here: a store may publish it after this input or once per batch.
    public private(set) var accountChanged = false
    /// For commands: the result that also appears in `events`.
    public var commandResult: CommandResult?
    /// For applied commands that changed the account: what changed, for the audit trail.
    public var audit: AuditRecord?
    /// Every grant this transition made or drew from, as it is afterwards (a grant may appear
    /// more than once; the last is its state). The stores write these rows only (`GrantWrites`).
    public var grantChanges: [GrantChange] = []
    let now: Timestamp
    let configuration: LedgerConfiguration

    init(account: CustomerAccount, now: Timestamp, configuration: LedgerConfiguration) {
        self.account = account
        self.now = now
        self.configuration = configuration
    }

    /// Appends an entry and the events that follow from it (balance-changed, then block and
    /// low-credit changes). Returns false, changing nothing, when the balance would overflow.
    /// An `added` entry makes a grant (paying any debt first); `used` and `deducted` entries draw
    /// from the grants (an `expired` entry's grant was taken out by the caller). Every entry
    /// gets its chain hash here.
    mutating func record(
        _ kind: LedgerEntry.Kind, amount: CreditAmount, note: String, source: LedgerEntry.Source,
        actor: String? = nil, breakdown: Pricing.Charge? = nil,
        deductReason: AdminCommand.DeductReason? = nil, occurredAt: Timestamp, expiresAt: Timestamp? = nil
    ) -> Bool {
        guard let balance = account.balance.adding(amount) else { return false }
        var entry = LedgerEntry(
            customerID: account.customerID, entryID: account.lastEntryID + 1, kind: kind,
            amount: amount, balance: balance, note: note, source: source, actor: actor,
            breakdown: breakdown, deductReason: deductReason, occurredAt: occurredAt,
            recordedAt: now, expiresAt: expiresAt)
        entry.hash = EntryHash.of(entry, previous: account.headHash)
        updateGrants(for: entry)
        account.headHash = entry.hash
        account.balance = balance
        account.lastEntryID = entry.entryID
        account.balanceUpdatedAt = now
        if kind == .used { account.usage.add(-amount.micros, at: occurredAt, now: now) }
        entries.append(entry)
        events.append(.balanceChanged(entry))
        updateBlockState(after: entry)
        let customerID = account.customerID
        let entryID = entry.entryID
        evaluateLowCredit(entryID: entryID, eventID: EventID.forEntry(customerID, entryID, "low-credit"))
        evaluateTopUp(after: entry)
        return true
    }

    private mutating func updateBlockState(after entry: LedgerEntry) {
        switch account.blockState {
        case .active where account.balance.micros <= 0:
            deplete(by: .entry(entry.entryID), reason: "balance_depleted")
        case .active:
            break
        case .grace, .blocked:
            if account.balance.micros > 0 {
                unblock(eventID: EventID.forEntry(account.customerID, entry.entryID, "unblocked"), reason: "balance_restored")
            }
        }
    }

    /// active → grace (and on to blocked at once when the grace period is 0), with `depleted`.
    /// The deadline is fixed here: a later change of the grace period does not move it.
    mutating func deplete(by cause: BlockState.Depletion, reason: String) {
        guard account.blockState == .active else { return }
        let blockAt = now.adding(seconds: account.settings.gracePeriodSeconds)
        account.blockState = .grace(blockAt: blockAt, depletedBy: cause)
        events.append(
            .block(
                BlockEvent(
                    eventID: EventID.forDepletion(account.customerID, cause, "depleted"),
                    customerID: account.customerID, kind: .depleted, balance: account.balance,
                    previousState: "active", blockAt: blockAt, reason: reason, occurredAt: now)))
        if account.settings.gracePeriodSeconds == 0 { block(depletedBy: cause) }
    }

    /// grace → blocked.
    mutating func block(depletedBy cause: BlockState.Depletion) {
        let customerID = account.customerID
        account.blockState = .blocked(depletedBy: cause)
        events.append(
            .block(
                BlockEvent(
                    eventID: EventID.forDepletion(customerID, cause, "blocked"),
                    customerID: customerID, kind: .blocked, balance: account.balance,
                    previousState: "grace", blockAt: nil, reason: "grace_period_expired",
                    occurredAt: now)))
    }

    /// grace or blocked → active.
    mutating func unblock(eventID: String, reason: String) {
        let previous = account.blockState
        guard previous != .active else { return }
        account.blockState = .active
        events.append(
            .block(
                BlockEvent(
                    eventID: eventID, customerID: account.customerID, kind: .unblocked,
                    balance: account.balance, previousState: previous.name, blockAt: nil,
                    reason: reason, occurredAt: now)))
    }

    /// Sends a low-credit alert once per crossing of the threshold; re-arms above it. `eventID` is
    /// made only when an alert goes out (this runs for every entry).
    mutating func evaluateLowCredit(entryID: Int64?, eventID: @autoclosure () -> String) {
        guard account.creditsEnabled, let threshold = account.settings.lowCreditThreshold else { return }
        if account.balance > threshold {
            account.lowCreditAlerted = false
            return
        }
        guard account.settings.lowCreditAlerts, !account.lowCreditAlerted else { return }
        account.lowCreditAlerted = true
        events.append(
            .lowCredit(
                LowCreditAlert(
                    eventID: eventID(), customerID: account.customerID,
                    balance: account.balance, threshold: threshold, entryID: entryID,
                    occurredAt: now, projection: AccountProjection(account, at: now))))
    }

    /// Reports a usage spike in the clock hour of `occurredAt` (still in the hourly window): the
    /// hour's usage is at least `minimum` and above `ratio` times the average hourly usage of the
    /// 168 hours before, which must not be 0; at most once per customer and hour.
    mutating func checkSpike(hourOf occurredAt: Timestamp, ratio: CreditAmount, minimum: CreditAmount) {
        let hour = UsageWindow.hour(of: occurredAt)
        guard hour > UsageWindow.hour(of: now) - UsageWindow.windowHours, UsageWindow.countsAt(occurredAt, now: now),
            account.usage.lastSpikeHour != hour
        else { return }
        let used = account.usage.used(inHour: hour)
        guard used >= minimum.micros else { return }
        let baseline = account.usage.usedBefore(hour: hour) / Int128(UsageWindow.baselineHours)
        guard baseline > 0, Int128(used) * 1_000_000 > Int128(ratio.micros) * baseline else { return }
        account.usage.lastSpikeHour = hour
        let start = Timestamp(millisecondsSinceEpoch: hour * UsageWindow.hourMilliseconds)
        events.append(
            .anomaly(
                UsageAnomaly(
                    eventID: "\(account.customerID)/hour:\(start)/usage_spike", customerID: account.customerID,
                    windowStart: start, windowEnd: start.adding(seconds: 3600), used: CreditAmount(micros: used),
                    baselinePerHour: CreditAmount(micros: Int64(baseline)),
                    ratioHundredths: Int64(min(Int128(used) * 100 / baseline, Int128(Int64.max))), occurredAt: now)))
    }

    /// Closes the transition: when the account changed from `original`, its version grows by one
    /// and its whole new state is to go to `credits.accounts` (after the other events).
    mutating func finish(from original: CustomerAccount) {
        guard account != original else { return }
        account.version = original.version + 1
        account.versionedAt = now
        accountChanged = true
    }

    /// The account's new state for `credits.accounts`, when it changed.
    public var accountState: AccountState? { accountChanged ? AccountState(account, at: now) : nil }

    /// `events`, then the account's new state when it changed: everything this input publishes.
    public var allEvents: [OutputEvent] { accountState.map { events + [.account($0)] } ?? events }
}
