/// The hold rules of the contract ("Live calls: credit holds") as steps of a transition.
extension LedgerTransition {
    /// The seconds after its last call event or usage at which a live call's hold lapses.
    static let expiryMarginSeconds: Int64 = 60

    private var expiry: Timestamp {
        now.adding(seconds: account.settings.callHoldSeconds + Self.expiryMarginSeconds)
    }

    /// `call_started`: admits the call with a hold, grants it without a limit, or denies it. A
    /// call already live holds nothing more: its newest decision goes out again.
    mutating func admit(_ callID: String) {
        if var call = account.calls.live[callID] {
            call.expiresAt = expiry
            account.calls.update(call)
            events.append(.callDecision(call.lastDecision))
            return
        }
        let sequence = account.calls.nextSequence(of: callID)
        func settle(_ kind: CallDecision.Kind, _ reason: CallDecision.Reason) {
            let decision = CallDecision(
                customerID: account.customerID, callID: callID, sequence: sequence, kind: kind, reason: reason,
                available: account.available, occurredAt: now)
            account.calls.retire(callID, decision: decision)
            events.append(.callDecision(decision))
        }
        guard account.creditsEnabled else { return settle(.granted, .creditsNotEnabled) }
        guard let rate = HoldRate(account.settings) else { return settle(.granted, .noRate) }
        if case .blocked = account.blockState { return settle(.denied, .blocked) }
        let holdSeconds = account.settings.callHoldSeconds
        let available = account.available
        let hold = min(rate.hold(forSeconds: holdSeconds), available)
        let covered = rate.seconds(coveredBy: hold)
        guard available.micros > 0, covered >= min(60, holdSeconds) else { return settle(.denied, .insufficientCredits) }
        let decision = CallDecision(
            customerID: account.customerID, callID: callID, sequence: sequence, kind: .granted, grantedSeconds: covered,
            usedSeconds: 0, held: hold, available: CreditAmount(micros: available.micros - hold.micros),
            expiresAt: expiry, occurredAt: now)
        account.calls.update(
            LiveCall(
                callID: callID, held: hold, usedSeconds: 0, grantedSeconds: covered, startedAt: now,
                expiresAt: expiry, finalSent: false, lastDecision: decision))
        events.append(.callDecision(decision))
    }

    /// Usage of a live call: its hold shrinks by `charge` (not below 0) and its used seconds
    /// grow; a hold left covering less than half of `call_hold_seconds` is topped up toward a
    /// full hold from what is available (`granted`), or, with nothing available, the call gets
    /// `final` once until a later extension succeeds.
    mutating func chargeLiveCall(_ callID: String?, charge: CreditAmount, callSeconds: Int64?) {
        guard let callID, var call = account.calls.live[callID] else { return }
        call.held = CreditAmount(micros: max(0, call.held.micros - max(0, charge.micros)))
        call.usedSeconds += callSeconds ?? 0
        call.expiresAt = expiry
        account.calls.update(call)
        guard account.creditsEnabled, let rate = HoldRate(account.settings) else { return }
        let holdSeconds = account.settings.callHoldSeconds
        guard rate.seconds(coveredBy: call.held) * 2 < holdSeconds else { return }
        let wanted = rate.hold(forSeconds: holdSeconds).micros - call.held.micros
        var available = account.available.micros
        let kind: CallDecision.Kind
        if wanted > 0, available > 0 {
            let added = min(wanted, available)
            call.held = CreditAmount(micros: call.held.micros + added)
            available -= added
            call.finalSent = false
            kind = .granted
        } else {
            guard !call.finalSent else { return }
            call.finalSent = true
            kind = .final
        }
        call.grantedSeconds = call.usedSeconds + rate.seconds(coveredBy: call.held)
        call.lastDecision = CallDecision(
            customerID: account.customerID, callID: callID, sequence: call.lastDecision.sequence + 1, kind: kind,
            grantedSeconds: call.grantedSeconds, usedSeconds: call.usedSeconds, held: call.held,
            available: CreditAmount(micros: available), expiresAt: call.expiresAt, occurredAt: now)
        account.calls.update(call)
        events.append(.callDecision(call.lastDecision))
    }

    /// `call_ended` (`released`) or a lapsed hold (`expired`): the call's hold is released. A
    /// call that is not live gets no decision (the platform may end a call after its expiry).
    mutating func release(_ callID: String, as kind: CallDecision.Kind) {
        guard let call = account.calls.live[callID] else { return }
        let decision = CallDecision(
            customerID: account.customerID, callID: callID, sequence: call.lastDecision.sequence + 1, kind: kind,
            usedSeconds: call.usedSeconds, held: .zero,
            available: CreditAmount(micros: account.available.micros + call.held.micros), occurredAt: now)
        account.calls.retire(callID, decision: decision)
        events.append(.callDecision(decision))
    }

    /// Releases every live call whose hold has lapsed by `now`, earliest first.
    mutating func expireLapsedCalls() {
        let lapsed = account.calls.live.values.filter { $0.expiresAt <= now }.sorted { a, b in
            a.expiresAt != b.expiresAt ? a.expiresAt < b.expiresAt : a.callID.utf8.lexicographicallyPrecedes(b.callID.utf8)
        }
        for call in lapsed { release(call.callID, as: .expired) }
    }
}
