import Testing

@testable import CreditsCore

/// The hold rules of "Live calls: credit holds" as tables: admission, extension, final,
/// release, expiry, repeats, rounding, and the invariant held <= max(balance, 0) after grants.
@Suite("Call holds: admission, extension, final, release, expiry")
struct CallHoldTests {
    /// A customer with `balance` credits at 6 credits a minute (holds of 30 for 300 s).
    func customer(balance: String = "100", settings: SettingsChange = SettingsChange()) -> LedgerRun {
        var run = LedgerRun()
        _ = run.command(.enableCredits(SettingsChange(pricePerMinute: .some(credits("6")))))
        if settings != SettingsChange() { _ = run.command(.configure(settings)) }
        if credits(balance).micros > 0 { _ = run.command(.addCredits(amount: credits(balance), note: "start")) }
        run.forgetEvents()
        return run
    }

    struct Admission: CustomTestStringConvertible, Sendable {
        var name: String
        var balance = "100"
        var settings = SettingsChange()
        var enabled = true
        var blocked = false
        var decision: CallDecision.Kind
        var reason: CallDecision.Reason? = nil
        var held = "0"
        var grantedSeconds: Int64? = nil
        var testDescription: String { name }
    }

    static let admissions: [Admission] = [
        Admission(name: "full hold", decision: .granted, held: "30", grantedSeconds: 300),
        Admission(name: "capped by the balance", balance: "10", decision: .granted, held: "10", grantedSeconds: 100),
        Admission(name: "exactly 60 s", balance: "6", decision: .granted, held: "6", grantedSeconds: 60),
        Admission(
            name: "under 60 s", balance: "5.999999", decision: .denied, reason: .insufficientCredits),
        Admission(name: "no credits", balance: "0", decision: .denied, reason: .insufficientCredits),
        Admission(
            name: "short holds: min(60, call_hold_seconds)", balance: "3",
            settings: SettingsChange(callHoldSeconds: 30), decision: .granted, held: "3", grantedSeconds: 30),
        Admission(
            name: "hold rate above the price", settings: SettingsChange(callHoldRate: .some(credits("12"))),
            decision: .granted, held: "60", grantedSeconds: 300),
        Admission(
            name: "rounding: ceil of the hold, floor of the seconds",
            settings: SettingsChange(callHoldSeconds: 301, callHoldRate: .some(credits("1"))),
            decision: .granted, held: "5.016667", grantedSeconds: 301),
        Admission(
            name: "rounding at a third of a credit", settings: SettingsChange(callHoldRate: .some(credits("0.333333"))),
            decision: .granted, held: "1.666665", grantedSeconds: 300),
        Admission(
            name: "smallest rate", settings: SettingsChange(callHoldRate: .some(credits("0.000001"))),
            decision: .granted, held: "0.000005", grantedSeconds: 300),
        Admission(
            name: "rate 0: no limit", settings: SettingsChange(pricePerMinute: .some(credits("0"))),
            decision: .granted, reason: .noRate),
        Admission(
            name: "no price: no limit", settings: SettingsChange(pricePerMinute: .some(nil)),
            decision: .granted, reason: .noRate),
        Admission(name: "credits not enabled", enabled: false, decision: .granted, reason: .creditsNotEnabled),
        Admission(name: "blocked", blocked: true, decision: .denied, reason: .blocked),
    ]

    @Test("call_started: every decision and reason", arguments: admissions)
    func admission(_ row: Admission) throws {
        var run = customer(balance: row.blocked ? "0" : row.balance, settings: row.settings)
        if row.blocked {
            _ = run.tick(seconds: SettingsChange.defaultGrace)
            #expect(run.account.blockState.name == "blocked")
        }
        if !row.enabled { _ = run.command(.disableCredits) }
        run.forgetEvents()
        let decision = try #require(run.call(.started, "c1").last)
        #expect(decision.kind == row.decision)
        #expect(decision.reason == row.reason)
        #expect(decision.held.description == row.held)
        #expect(decision.grantedSeconds == row.grantedSeconds)
        #expect(decision.sequence == 1 && decision.eventID == "cus_1/c1/1")
        #expect(decision.available == run.account.available)
        #expect(run.account.held.description == row.held)
        #expect(run.account.calls.live.count == (row.decision == .granted && row.reason == nil ? 1 : 0))
        #expect((decision.expiresAt != nil) == (run.account.calls.live.count == 1))
        if run.account.calls.live.count == 1 {
            #expect(decision.expiresAt == run.now.adding(seconds: run.account.settings.callHoldSeconds + 60))
        }
    }

    @Test("concurrent starts are capped by the balance: the 21st of 20 full holds is denied")
    func concurrentAdmission() throws {
        var run = customer(balance: "600")
        let decisions = (1...21).compactMap { run.call(.started, "c\($0)").last }
        #expect(decisions.prefix(20).allSatisfy { $0.kind == .granted && $0.held.description == "30" })
        #expect(decisions.last?.kind == .denied && decisions.last?.reason == .insufficientCredits)
        #expect(run.account.held.description == "600" && run.account.available == .zero)
        #expect(run.account.calls.live.count == 20)
    }

    @Test("usage shrinks the hold; under half of call_hold_seconds it is topped up (granted, extension)")
    func extension_() throws {
        var run = customer()
        _ = run.call(.started, "c1")
        let shrunk = try run.use(call: "c1", seconds: 100)  // charge 10: hold 20 covers 200 s >= 150
        #expect(shrunk.isEmpty)
        #expect(run.account.calls.live["c1"]?.held.description == "20")
        let extended = try #require(try run.use(call: "c1", seconds: 60).last)  // hold 14 covers 140 s < 150
        #expect(extended.kind == .granted && extended.sequence == 2)
        #expect(extended.held.description == "30" && extended.usedSeconds == 160)
        #expect(extended.grantedSeconds == Int64(160 + 300))
        #expect(extended.available.description == "54")  // 100 - 16 used - 30 held
        #expect(run.account.balance.description == "84")
    }

    @Test("nothing available: final once, granted again after a top-up")
    func finalGrant() throws {
        var run = customer(balance: "30")
        _ = run.call(.started, "c1")
        let final = try #require(try run.use(call: "c1", seconds: 200).last)  // balance 10, hold 10, available 0
        #expect(final.kind == .final && final.sequence == 2)
        #expect(final.grantedSeconds == Int64(200 + 100) && final.held.description == "10")
        #expect(try run.use(call: "c1", seconds: 50).isEmpty, "final is sent once")
        _ = run.command(.addCredits(amount: credits("100"), note: "top-up"))
        let again = try #require(try run.use(call: "c1", seconds: 10).last)  // hold 4, available 100
        #expect(again.kind == .granted && again.sequence == 3 && again.held.description == "30")
        #expect(again.grantedSeconds == Int64(260 + 300))
        let hold = run.account.calls.live["c1"]!
        #expect(!hold.finalSent)
    }

    @Test("usage beyond the hold: hold 0 (never negative), extension from what is available")
    func usageBeyondHold() throws {
        var run = customer()
        _ = run.call(.started, "c1")
        let decision = try #require(try run.use(call: "c1", seconds: 400).last)  // charge 40 > hold 30
        #expect(decision.kind == .granted && decision.held.description == "30")
        #expect(run.account.balance.description == "60" && run.account.available.description == "30")
    }

    @Test("call_ended releases the hold; later usage is charged without one; an unknown call_ended does nothing")
    func release() throws {
        var run = customer()
        _ = run.call(.started, "c1")
        let released = try #require(run.call(.ended, "c1").last)
        #expect(released.kind == .released && released.sequence == 2 && released.held == .zero)
        #expect(released.available.description == "100" && released.expiresAt == nil)
        #expect(run.account.held == .zero && run.account.calls.live.isEmpty)
        #expect(try run.use(call: "c1", seconds: 60).isEmpty)
        #expect(run.account.balance.description == "94")
        let before = run.account
        #expect(run.call(.ended, "never-started").isEmpty)
        #expect(run.account == before)
    }

    @Test("expiry: call_hold_seconds + 60 s after the last call event or usage")
    func expiry() throws {
        var run = customer()
        _ = run.call(.started, "c1")
        #expect(run.account.nextDeadline == t0.adding(seconds: 360))
        #expect(run.decisions(run.tick(seconds: 200)).isEmpty)
        _ = try run.use(call: "c1", seconds: 10)  // refreshes: expires at 200 + 360
        #expect(run.decisions(run.tick(seconds: 359)).isEmpty)
        let expired = try #require(run.decisions(run.tick(seconds: 1)).last)
        #expect(expired.kind == .expired && expired.held == .zero && expired.usedSeconds == 10)
        #expect(run.account.calls.live.isEmpty && run.account.nextDeadline == nil)
        #expect(run.call(.ended, "c1").isEmpty, "an end after the expiry: no decision")
    }

    @Test("a repeat holds nothing more: the call's newest decision again, for live and retired calls")
    func repeats() throws {
        var run = customer(balance: "35")
        let first = try #require(run.call(.started, "c1").last)
        let again = try #require(run.call(.started, "c1").last)
        #expect(again == first && run.account.held.description == "30")
        let denied = try #require(run.call(.started, "c2").last)
        #expect(denied.kind == .denied)
        let repeated = try #require(run.ledger.repeatedDecision(for: run.event(.started, "c2"), in: run.account))
        #expect(repeated == .callDecision(denied))
        _ = run.call(.ended, "c1")
        let restarted = try #require(run.call(.started, "c1").last)
        #expect(restarted.sequence == 3 && restarted.kind == .granted, "a call's decisions keep counting")
    }

    @Test("the grace deadline and call expiries share one deadline: the earliest")
    func sharedDeadline() throws {
        var run = customer(balance: "30", settings: SettingsChange(gracePeriodSeconds: 100))
        _ = run.call(.started, "c1")
        _ = run.command(.deductCredits(amount: credits("30"), reason: .manual, note: "all", allowNegative: false))
        #expect(run.account.nextDeadline == t0.adding(seconds: 100))
        let fired = run.tick(seconds: 100)
        #expect(fired.account.blockState.name == "blocked")
        #expect(run.account.nextDeadline == t0.adding(seconds: 360))
    }

    @Test("random call streams: held = sum of holds, never negative, <= max(balance, 0) right after each grant")
    func invariants() throws {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var run = customer(balance: String(Int.random(in: 0...200, using: &random)))
            for _ in 0..<60 {
                let call = "c\(Int.random(in: 0..<6, using: &random))"
                let before = run.account.calls.live[call]?.lastDecision
                var decisions: [CallDecision] = []
                switch Int.random(in: 0..<10, using: &random) {
                case 0...2: decisions = run.call(.started, call)
                case 3: decisions = run.call(.ended, call)
                case 4: decisions = run.decisions(run.tick(seconds: Int64.random(in: 1...400, using: &random)))
                case 5: _ = run.command(.addCredits(amount: credits("7.5"), note: "top-up"))
                default: decisions = try run.use(call: call, seconds: Int64.random(in: 0...200, using: &random))
                }
                let held = run.account.calls.live.values.reduce(0) { $0 + $1.held.micros }
                #expect(run.account.held.micros == held && held >= 0)
                #expect(run.account.calls.live.values.allSatisfy { $0.held.micros >= 0 })
                // New grants only: a repeat of a live call's start republishes its old decision.
                for decision in decisions where decision.kind == .granted && decision.reason == nil && decision != before {
                    #expect(run.account.held.micros <= max(run.account.balance.micros, 0))
                }
                #expect(CallBook(encoded: run.account.calls.encoded, customerID: "cus_1") == run.account.calls)
            }
        }
    }

    @Test("call events: unknown type, missing call_id, bad ids are dead-lettered naming the field")
    func validation() {
        let base = #""event_id":"e1","customer_id":"cus_1","occurred_at":"2026-11-24T10:00:00Z""#
        #expect(usageError(#"{\#(base),"type":"call_paused","call_id":"c"}"#)?.message.hasPrefix("type:") == true)
        #expect(usageError(#"{\#(base),"type":"call_started"}"#)?.message == "call_id: is required")
        #expect(usageError(#"{\#(base),"type":"call_started","call_id":""}"#)?.message.hasPrefix("call_id:") == true)
        #expect(usageError(#"{\#(base),"type":7,"call_id":"c"}"#)?.code == .invalidUsage)
        #expect(usageError(#"{\#(base),"type":"call_ended","call_id":"c"}"#, key: "cus_2")?.code == .keyMismatch)
        #expect(usageError(#"{\#(base),"type":"call_ended","call_id":"c"}"#) == nil)
    }

    @Test("hold settings out of range are rejected naming the field")
    func settingsValidation() {
        func command(_ fields: String) -> String {
            #"{"command_id":"k","customer_id":"cus_1","issued_at":"2026-11-24T10:00:00Z","actor":"a","type":"configure",\#(fields)}"#
        }
        #expect(commandError(command(#""call_hold_seconds":29"#))?.message.hasPrefix("call_hold_seconds:") == true)
        #expect(commandError(command(#""call_hold_seconds":86401"#))?.message.hasPrefix("call_hold_seconds:") == true)
        #expect(commandError(command(#""call_hold_rate":"-1""#))?.message.hasPrefix("call_hold_rate:") == true)
        #expect(commandError(command(#""call_hold_seconds":30,"call_hold_rate":null"#)) == nil)
    }

    @Test("the call-grants message carries the contract's fields")
    func decisionJSON() throws {
        var run = customer()
        let granted = try #require(run.call(.started, "call-8f2c").last)
        #expect(
            granted.json
                == #"{"event_id":"cus_1/call-8f2c/1","customer_id":"cus_1","call_id":"call-8f2c","decision":"granted","granted_seconds":300,"used_seconds":0,"held":"30","available":"70","expires_at":"2026-11-24T10:06:00.000Z","occurred_at":"2026-11-24T10:00:00.000Z"}"#
        )
        let state = AccountState(run.account, at: run.now).json
        #expect(state.contains(#""held":"30","available":"70","live_calls":1"#))
    }
}

extension SettingsChange {
    static let defaultGrace = CustomerSettings.defaultGracePeriodSeconds
}

extension LedgerRun {
    func event(_ kind: CallEvent.Kind, _ callID: String) -> CallEvent {
        CallEvent(
            eventID: "\(callID)/\(kind.rawValue)", kind: kind, customerID: account.customerID, callID: callID, occurredAt: now)
    }

    /// Applies a call event; returns its decisions.
    mutating func call(_ kind: CallEvent.Kind, _ callID: String) -> [CallDecision] {
        let transition = ledger.apply(event(kind, callID), to: account, at: now)
        absorb(transition)
        return decisions(transition)
    }

    /// Applies usage of a call; returns the decisions it caused.
    mutating func use(call: String, seconds: Int64) throws -> [CallDecision] {
        let usage = UsageEvent(
            eventID: "u-\(entries.count)-\(events.count)", customerID: account.customerID, occurredAt: now, callID: call,
            callSeconds: seconds)
        let transition = try ledger.apply(usage, to: account, at: now)
        absorb(transition)
        return decisions(transition)
    }

    func decisions(_ transition: LedgerTransition) -> [CallDecision] {
        transition.events.compactMap { if case .callDecision(let decision) = $0 { decision } else { nil } }
    }
}
