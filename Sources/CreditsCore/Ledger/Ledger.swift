/// The ledger rules of the contract: a pure function from (customer state, input, time) to
/// (new state, entries, events). No I/O; the same inputs always give the same outputs.
public struct Ledger: Sendable {
    public let configuration: LedgerConfiguration

    public init(configuration: LedgerConfiguration = LedgerConfiguration()) {
        self.configuration = configuration
    }

    /// A transition from `account` at `now`, with the grants that expired by then expired first
    /// (so that no input draws on them, whether or not their deadline fired yet).
    private func start(_ account: CustomerAccount, at now: Timestamp) -> LedgerTransition {
        var transition = LedgerTransition(account: account, now: now, configuration: configuration)
        transition.expireDueGrants()
        return transition
    }

    /// Charges a usage event. A customer without AI credits is not charged and gets no entry.
    /// Throws `amount_out_of_range` when the charge or the new balance does not fit.
    public func apply(_ usage: UsageEvent, to account: CustomerAccount, at now: Timestamp) throws(InputError) -> LedgerTransition
    {
        var transition = start(account, at: now)
        guard account.creditsEnabled else {
            transition.chargeLiveCall(usage.callID, charge: .zero, callSeconds: usage.callSeconds)
            transition.finish(from: account)
            return transition
        }
        guard
            let charge = Pricing.charge(
                for: usage, settings: account.settings,
                defaultCreditsPerUSD: configuration.creditsPerUSD)
        else { throw InputError(.amountOutOfRange, "the charge of this usage event is over 1e12 credits") }
        // Concatenation, not interpolation: one allocation per event rather than five appends.
        let note = usage.callID.map { "Usage of call " + $0 } ?? "Usage event " + usage.eventID
        guard
            transition.record(
                .used, amount: -charge.total, note: note, source: .usage(eventID: usage.eventID),
                breakdown: charge, occurredAt: usage.occurredAt)
        else { throw InputError(.amountOutOfRange, "the balance would leave the ledger's range") }
        transition.checkSpike(
            hourOf: usage.occurredAt, ratio: configuration.spikeRatio, minimum: configuration.spikeMinimum)
        transition.chargeLiveCall(usage.callID, charge: charge.total, callSeconds: usage.callSeconds)
        transition.finish(from: account)
        return transition
    }

    /// Applies a call event: admission (`call_started`) or release (`call_ended`).
    public func apply(_ call: CallEvent, to account: CustomerAccount, at now: Timestamp) -> LedgerTransition {
        var transition = start(account, at: now)
        switch call.kind {
        case .started: transition.admit(call.callID)
        case .ended: transition.release(call.callID, as: .released)
        }
        transition.finish(from: account)
        return transition
    }

    /// A repeated call event (its event_id seen before with the same fields): the call's newest
    /// decision, published again with its own event_id; nil when none is kept.
    public func repeatedDecision(for call: CallEvent, in account: CustomerAccount) -> OutputEvent? {
        account.calls.latestDecision(of: call.callID).map { .callDecision($0) }
    }

    /// Does what is due for the customer by `now` (see `CustomerAccount.nextDeadline`): live
    /// calls whose hold lapsed are released (`expired`), and a grace period that ended moves the
    /// customer to `blocked`. Changes nothing when nothing is due.
    public func fireDeadlines(for account: CustomerAccount, at now: Timestamp) -> LedgerTransition {
        var transition = start(account, at: now)
        transition.expireLapsedCalls()
        if case .grace(let blockAt, let cause) = transition.account.blockState, blockAt <= now,
            transition.account.balance.micros <= 0
        {
            transition.block(depletedBy: cause)
        }
        transition.finish(from: account)
        return transition
    }

    /// Applies an admin command; its result (applied or rejected) is in `commandResult`.
    public func apply(_ command: AdminCommand, to account: CustomerAccount, at now: Timestamp) -> LedgerTransition {
        var transition = start(account, at: now)
        let expired = transition
        let outcome = refusal(ofAge: command, at: now).map { .failure($0) } ?? perform(command, on: &transition)
        // The command's own entry, not an expiry made before it.
        let entryID = transition.entries.count > expired.entries.count ? transition.entries.last?.entryID : nil
        let result: CommandResult
        switch outcome {
        case .success:
            result = CommandResult(
                commandID: command.commandID, customerID: command.customerID, status: .applied,
                entryID: entryID, balance: transition.account.balance, processedAt: now)
        case .failure(let error):
            transition = expired
            result = CommandResult(
                commandID: command.commandID, customerID: command.customerID, status: .rejected,
                reason: error.code, message: error.message, balance: transition.account.balance,
                processedAt: now)
        }
        transition.commandResult = result
        transition.events.insert(.commandResult(result), at: 0)
        if result.status == .applied {
            transition.audit = AuditRecord.of(command, from: expired.account, to: transition.account, at: now)
        }
        transition.finish(from: account)
        return transition
    }

    /// Commands older than `commandMaxAgeSeconds` (or too far ahead of the clock) are refused:
    /// their command_id may be forgotten by the time they come again (a replay of a signed one).
    private func refusal(ofAge command: AdminCommand, at now: Timestamp) -> InputError? {
        guard let maxAge = configuration.commandMaxAgeSeconds else { return nil }
        let skew = LedgerConfiguration.commandClockSkewSeconds
        if command.issuedAt < now.adding(seconds: -maxAge) {
            return InputError(
                .invalidCommand,
                "issued_at \(command.issuedAt) is older than \(maxAge) s (the idempotency-key retention less "
                    + "\(skew) s): a command that old may already have been applied and forgotten")
        }
        if command.issuedAt > now.adding(seconds: skew) {
            return InputError(
                .invalidCommand,
                "issued_at \(command.issuedAt) is more than \(skew) s ahead of the service's clock (\(now))")
        }
        return nil
    }

    private func perform(_ command: AdminCommand, on transition: inout LedgerTransition) -> Result<Void, InputError> {
        let settingsEventID = EventID.forCommand(command.customerID, command.commandID, "low-credit")
        let source = LedgerEntry.Source.command(commandID: command.commandID)
        switch command.action {
        case .enableCredits(let change):
            if let change, let error = topUpProblem(change, on: transition.account.settings) { return .failure(error) }
            transition.account.creditsEnabled = true
            if let change { transition.account.settings.apply(change) }
            // No credits to call on: usage control holds from the first call; a top-up unblocks.
            if transition.account.balance.micros <= 0 {
                transition.deplete(by: .enabling(commandID: command.commandID), reason: "no_credits_when_enabled")
            }
            transition.evaluateLowCredit(entryID: nil, eventID: settingsEventID)
            return .success(())
        case .disableCredits:
            transition.account.creditsEnabled = false
            transition.unblock(
                eventID: EventID.forCommand(command.customerID, command.commandID, "unblocked"),
                reason: "credits_disabled")
            return .success(())
        case .configure(let change):
            if let error = topUpProblem(change, on: transition.account.settings) { return .failure(error) }
            transition.account.settings.apply(change)
            transition.evaluateLowCredit(entryID: nil, eventID: settingsEventID)
            return .success(())
        case .addCredits(let amount, let note, let expiresAt):
            return credit(amount, note: note, expiresAt: expiresAt, command: command, source: source, on: &transition)
        case .quickBuy(let selection, let paymentRef, let expiresAt):
            switch selection {
            case .package(let name):
                guard let package = configuration.package(named: name) else {
                    let known = configuration.packages.map(\.name).joined(separator: ", ")
                    return .failure(InputError(.unknownPackage, "package \"\(name)\" is not sold; packages: \(known)"))
                }
                let validUntil = package.validityDays.map { transition.now.adding(seconds: $0 * 86_400) }
                return credit(
                    package.credits, note: "Quick Buy package \(name) (payment \(paymentRef))",
                    expiresAt: expiresAt ?? validUntil, command: command, source: source, on: &transition)
            case .amount(let amount):
                return credit(
                    amount, note: "Quick Buy \(amount) credits (payment \(paymentRef))", expiresAt: expiresAt,
                    command: command, source: source, on: &transition)
            }
        case .deductCredits(let amount, let reason, let note, let allowNegative):
            guard transition.account.creditsEnabled else { return .failure(notEnabled(command)) }
            let balance = transition.account.balance
            guard allowNegative || balance.micros >= amount.micros else {
                return .failure(
                    InputError(
                        .insufficientBalance,
                        "cannot deduct \(amount) from a balance of \(balance) without allow_negative"))
            }
            guard
                transition.record(
                    .deducted, amount: -amount, note: note, source: source, actor: command.actor,
                    deductReason: reason, occurredAt: command.issuedAt)
            else { return .failure(outOfRange) }
            return .success(())
        }
    }

    private func credit(
        _ amount: CreditAmount, note: String, expiresAt: Timestamp?, command: AdminCommand,
        source: LedgerEntry.Source, on transition: inout LedgerTransition
    ) -> Result<Void, InputError> {
        guard transition.account.creditsEnabled else { return .failure(notEnabled(command)) }
        if let expiresAt, expiresAt <= transition.now {
            return .failure(
                InputError(
                    .invalidCommand,
                    "expires_at: \(expiresAt) is not later than the time the command is processed (\(transition.now))"))
        }
        guard
            transition.record(
                .added, amount: amount, note: note, source: source, actor: command.actor,
                occurredAt: command.issuedAt, expiresAt: expiresAt)
        else { return .failure(outOfRange) }
        return .success(())
    }

    /// Automatic top-up needs a configured package whenever a threshold is set.
    private func topUpProblem(_ change: SettingsChange, on settings: CustomerSettings) -> InputError? {
        var after = settings
        after.apply(change)
        guard after.autoTopUpBelow != nil else { return nil }
        guard let name = after.autoTopUpPackage else {
            return InputError(
                .invalidCommand, "auto_top_up_package: is required with auto_top_up_below (a Quick Buy package)")
        }
        guard configuration.package(named: name) != nil else {
            let known = configuration.packages.map(\.name).joined(separator: ", ")
            return InputError(
                .unknownPackage, "auto_top_up_package: package \"\(name)\" is not sold; packages: \(known)")
        }
        return nil
    }

    private func notEnabled(_ command: AdminCommand) -> InputError {
        InputError(.creditsNotEnabled, "AI credits are not enabled for customer \(command.customerID); enable them first")
    }

    private var outOfRange: InputError { InputError(.amountOutOfRange, "the balance would leave the ledger's range") }
}
