/// Grants (the credits of `added` entries), their draw-down, expiry, and automatic top-up.
extension LedgerTransition {
    /// Keeps the grants in step with a new entry (before the balance changes): an `added` entry
    /// is a new grant whose remaining starts at amount - debt (never below 0); `used` and
    /// `deducted` entries draw from the grants in order, what no grant covers is debt.
    mutating func updateGrants(for entry: LedgerEntry) {
        switch entry.kind {
        case .added:
            let debt = max(0, -account.balance.micros)
            let grant = Grant(
                entryID: entry.entryID, amount: entry.amount,
                remaining: CreditAmount(micros: max(0, entry.amount.micros - debt)), expiresAt: entry.expiresAt,
                note: entry.note, addedAt: entry.recordedAt)
            if let displaced = account.grants.add(grant) { grantChanges.append(GrantChange(grant: displaced, isNew: false)) }
            grantChanges.append(GrantChange(grant: grant, isNew: true))
        case .used, .deducted:
            guard entry.amount.micros < 0 else { return }
            account.grants.draw(-entry.amount.micros, recordingIn: &grantChanges)
        case .expired:
            break
        }
    }

    /// Expires the grants whose `expires_at` is at or before `now`, in draw-down order: each
    /// with credits left makes an `expired` entry of -remaining; one with nothing left was
    /// already dropped. Every input runs this first, so no input draws on an expired grant,
    /// whether or not the deadline has fired yet.
    mutating func expireDueGrants() {
        for var grant in account.grants.removeExpired(at: now) {
            let left = grant.remaining
            grant.remaining = .zero
            grantChanges.append(GrantChange(grant: grant, isNew: false))
            let note =
                "Expired: the remaining \(left) credits of entry \(grant.entryID) (\(grant.note))"
            // Cannot overflow: the balance is at least the grant's remaining.
            _ = record(
                .expired, amount: CreditAmount(micros: -left.micros), note: note,
                source: .expiry(grantEntryID: grant.entryID), occurredAt: grant.expiresAt ?? now)
        }
    }

    /// Requests an automatic top-up once per fall to or below `auto_top_up_below`; an added
    /// entry that leaves the balance above it re-arms the request.
    mutating func evaluateTopUp(after entry: LedgerEntry) {
        let settings = account.settings
        guard let below = settings.autoTopUpBelow, let packageName = settings.autoTopUpPackage else { return }
        if account.balance > below {
            if entry.kind == .added { account.topUpRequested = false }
            return
        }
        guard account.creditsEnabled, !account.topUpRequested, let package = configuration.package(named: packageName)
        else { return }
        account.topUpRequested = true
        let eventID = EventID.forEntry(account.customerID, entry.entryID, "top-up")
        events.append(
            .topUpRequest(
                TopUpRequest(
                    eventID: eventID, customerID: account.customerID, package: package.name, amount: package.credits,
                    balance: account.balance, entryID: entry.entryID, occurredAt: now)))
    }
}
