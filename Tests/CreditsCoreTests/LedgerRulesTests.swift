import Testing

@testable import CreditsCore

@Suite("Ledger rules: entries, rejections, low credit, block states")
struct LedgerRulesTests {
    /// A customer just enabled at balance 0 (so in grace), without the set-up's events.
    func enabled(_ change: SettingsChange? = nil) -> LedgerRun {
        var run = LedgerRun()
        _ = run.command(.enableCredits(change))
        run.forgetEvents()
        return run
    }

    @Test("add, quick buy, deduct and use make gapless entries with running balances")
    func entries() throws {
        var run = enabled(SettingsChange(pricePerMinute: .some(credits("1"))))
        #expect(run.command(.addCredits(amount: credits("1000"), note: "Monthly package - 1000 credits")).entryID == 1)
        #expect(run.command(.quickBuy(.package("5000"), paymentRef: "pay_9")).entryID == 2)
        #expect(
            run.command(
                .deductCredits(
                    amount: credits("0.5"), reason: .refund, note: "Refund for failed calls",
                    allowNegative: false)
            ).entryID == 3)
        try run.use(seconds: 95, tools: 3)
        #expect(run.entries.map(\.entryID) == [1, 2, 3, 4])
        #expect(run.entries.map(\.kind) == [.added, .added, .deducted, .used])
        #expect(run.entries.map(\.amount.description) == ["1000", "5000", "-0.5", "-1.673334"])
        #expect(run.entries.map(\.balance.description) == ["1000", "6000", "5999.5", "5997.826666"])
        #expect(run.entries[1].note == "Quick Buy package 5000 (payment pay_9)")
        #expect(run.entries[2].deductReason == .refund)
        #expect(run.entries[3].breakdown == Pricing.Charge(call: credits("1.583334"), ai: .zero, toolCalls: credits("0.09")))
        #expect(run.account.balance.description == "5997.826666")
        #expect(run.account.lastEntryID == 4)
    }

    @Test("balance-changed JSON carries every contract field")
    func balanceChangedJSON() throws {
        var run = enabled()
        try run.use(seconds: 60, tools: 1)
        guard case .balanceChanged(let entry) = run.events.last(where: { if case .balanceChanged = $0 { true } else { false } })
        else {
            Issue.record("no balance-changed")
            return
        }
        #expect(
            entry.json == #"{"event_id":"cus_1/1/balance-changed","customer_id":"cus_1","entry_id":1,"type":"used","#
                + #""amount":"-0.03","balance":"-0.03","note":"Usage of call call-1","source":{"kind":"usage","id":"u-0"},"#
                + #""breakdown":{"call":"0","ai":"0","tool_calls":"0.03"},"warnings":["price_per_minute_not_configured"],"#
                + #""occurred_at":"2026-11-24T10:00:00.000Z","recorded_at":"2026-11-24T10:00:00.000Z","#
                // hashlib.sha256(b"0" * 64 + b"5:cus_1" b"1:1" b"4:used" b"5:-0.03" b"5:-0.03" b"5:usage"
                //   b"3:u-0" b"20:Usage of call call-1" b"24:2026-11-24T10:00:00.000Z").hexdigest()
                + #""hash":"e8a3f21936eed72cf6f0e3273b0c97a182fb8f8dac2d1b2ce1aeb489e5a6c7a9"}"#)
    }

    @Test("usage of a customer without AI credits makes no entry")
    func notEnabled() throws {
        var run = LedgerRun()
        let transition = try run.use(seconds: 60)
        #expect(transition.entries.isEmpty && transition.events.isEmpty)
        #expect(run.account.balance == .zero)
    }

    @Test("a zero charge still makes one used entry")
    func zeroCharge() throws {
        var run = enabled()
        _ = run.command(.addCredits(amount: credits("10"), note: "n"))
        try run.use(tools: 0)
        #expect(run.entries.last?.amount == .zero)
        #expect(run.entries.last?.entryID == 2)
    }

    @Test("usage may take the balance negative")
    func negative() throws {
        var run = enabled(SettingsChange(pricePerMinute: .some(credits("10"))))
        try run.use(seconds: 120)
        #expect(run.account.balance.description == "-20")
    }

    @Test(
        "commands are rejected with the contract's reasons",
        arguments: [
            (AdminCommand.Action.addCredits(amount: CreditAmount(credits: 5), note: "n"), ReasonCode.creditsNotEnabled),
            (.quickBuy(.package("1000"), paymentRef: "p"), .creditsNotEnabled),
            (
                .deductCredits(amount: CreditAmount(credits: 1), reason: .manual, note: "n", allowNegative: true),
                .creditsNotEnabled
            ),
        ])
    func rejectedWhileDisabled(action: AdminCommand.Action, reason: ReasonCode) {
        var run = LedgerRun()
        let result = run.command(action)
        #expect(result.status == .rejected)
        #expect(result.reason == reason)
        #expect(run.entries.isEmpty)
    }

    @Test("deduct beyond the balance needs allow_negative")
    func insufficient() {
        var run = enabled()
        _ = run.command(.addCredits(amount: credits("10"), note: "n"))
        let refused = run.command(
            .deductCredits(
                amount: credits("10.000001"), reason: .correction, note: "n",
                allowNegative: false))
        #expect(refused.status == .rejected && refused.reason == .insufficientBalance)
        #expect(refused.message == "cannot deduct 10.000001 from a balance of 10 without allow_negative")
        #expect(refused.balance.description == "10")
        #expect(
            run.command(.deductCredits(amount: credits("10"), reason: .correction, note: "n", allowNegative: false))
                .status == .applied)
        let forced = run.command(.deductCredits(amount: credits("3"), reason: .manual, note: "n", allowNegative: true))
        #expect(forced.status == .applied && forced.balance.description == "-3")
    }

    @Test("unknown Quick Buy package")
    func unknownPackage() {
        var run = enabled()
        let result = run.command(.quickBuy(.package("750"), paymentRef: "p"))
        #expect(result.reason == .unknownPackage)
        #expect(result.message == "package \"750\" is not sold; packages: 1000, 5000, 10000")
        #expect(run.command(.quickBuy(.amount(credits("42.5")), paymentRef: "p")).balance.description == "42.5")
        #expect(run.entries.last?.note == "Quick Buy 42.5 credits (payment p)")
    }

    @Test("a balance that would overflow is refused, not wrapped")
    func balanceOverflow() throws {
        var run = enabled()
        run.account.balance = CreditAmount(micros: .max - 5)
        let result = run.command(.addCredits(amount: credits("1"), note: "n"))
        #expect(result.reason == .amountOutOfRange)
        run.account.balance = CreditAmount(micros: .min + 5)
        run.account.settings.toolCallPrice = credits("1")
        #expect(throws: InputError.self) { try run.use(tools: 1) }
    }

    @Test("settings change and defaults")
    func settings() {
        var run = LedgerRun()
        #expect(
            run.account.settings
                == CustomerSettings(
                    pricePerMinute: nil, gracePeriodSeconds: 300,
                    lowCreditThreshold: nil, lowCreditAlerts: false,
                    toolCallPrice: credits("0.03"), creditsPerUSD: nil))
        _ = run.command(.configure(SettingsChange(pricePerMinute: .some(credits("2")), gracePeriodSeconds: 0)))
        #expect(run.account.settings.pricePerMinute == credits("2"))
        #expect(run.account.creditsEnabled == false)
        _ = run.command(.configure(SettingsChange(pricePerMinute: .some(nil))))
        #expect(run.account.settings.pricePerMinute == nil)
        #expect(run.account.settings.gracePeriodSeconds == 0)
    }

    // MARK: Low credit

    @Test("low-credit alert once per crossing, re-armed above the threshold")
    func lowCredit() throws {
        var run = enabled(SettingsChange(pricePerMinute: .some(credits("60")), lowCreditThreshold: .some(credits("100"))))
        _ = run.command(.addCredits(amount: credits("102"), note: "n"))  // 102
        _ = run.command(.configure(SettingsChange(lowCreditAlerts: true)))  // above the threshold: no alert
        try run.use(seconds: 1)  // 101
        #expect(run.lowCreditAlerts.isEmpty)
        try run.use(seconds: 1)  // 100: reaches the threshold
        #expect(run.lowCreditAlerts.count == 1)
        #expect(
            run.lowCreditAlerts[0].json == #"{"event_id":"cus_1/3/low-credit","customer_id":"cus_1","balance":"100","#
                + #""threshold":"100","entry_id":3,"minutes_left":1,"burn_rate_per_hour":"0.083333","#
                + #""projected_depletion_at":"2027-01-13T10:00:17.280Z","occurred_at":"2026-11-24T10:00:00.000Z"}"#)
        try run.use(seconds: 1)  // 99: same crossing
        #expect(run.lowCreditAlerts.count == 1)
        _ = run.command(.addCredits(amount: credits("1"), note: "n"))  // 100: still at or below
        #expect(run.lowCreditAlerts.count == 1)
        _ = run.command(.addCredits(amount: credits("0.000001"), note: "n"))  // above: re-armed
        try run.use(seconds: 1)  // 99.000001: new crossing
        #expect(run.lowCreditAlerts.count == 2)
    }

    @Test("no alert when alerts are off or no threshold is set; turning alerts on alerts at once")
    func lowCreditSettings() throws {
        var run = enabled(SettingsChange(pricePerMinute: .some(credits("60")), lowCreditThreshold: .some(credits("100"))))
        _ = run.command(.addCredits(amount: credits("50"), note: "n"))
        #expect(run.lowCreditAlerts.isEmpty)
        _ = run.command(.configure(SettingsChange(lowCreditAlerts: true)), id: "turn-on")
        #expect(run.lowCreditAlerts.count == 1)
        #expect(run.lowCreditAlerts[0].entryID == nil)
        #expect(run.lowCreditAlerts[0].eventID == "cus_1/command:turn-on/low-credit")
        _ = run.command(.configure(SettingsChange(lowCreditThreshold: .some(credits("10")))))  // above: re-arm
        _ = run.command(.configure(SettingsChange(lowCreditThreshold: .some(credits("60")))))  // crossing by settings
        #expect(run.lowCreditAlerts.count == 2)
        var silent = enabled(SettingsChange(lowCreditAlerts: true))
        _ = silent.command(.addCredits(amount: credits("1"), note: "n"))
        #expect(silent.lowCreditAlerts.isEmpty)
        var fresh = LedgerRun()
        _ = fresh.command(.enableCredits(SettingsChange(lowCreditThreshold: .some(credits("100")), lowCreditAlerts: true)))
        #expect(fresh.lowCreditAlerts.map(\.balance) == [.zero], "enabling at balance 0 under the threshold alerts")
    }

    // MARK: Block states

    @Test("active → grace → blocked → active")
    func graceThenBlocked() throws {
        var run = enabled(SettingsChange(pricePerMinute: .some(credits("60")), gracePeriodSeconds: 300))
        _ = run.command(.addCredits(amount: credits("2"), note: "n"))  // unblocks the enabling's grace
        run.forgetEvents()
        try run.use(seconds: 2)  // balance 0 → grace
        #expect(run.account.blockState == .grace(blockAt: t0.adding(seconds: 300), depletedBy: .entry(2)))
        #expect(run.blockEvents.map(\.kind) == [.depleted])
        #expect(
            run.blockEvents[0].json == #"{"event_id":"cus_1/2/depleted","customer_id":"cus_1","type":"depleted","#
                + #""balance":"0","previous_state":"active","block_at":"2026-11-24T10:05:00.000Z","reason":"balance_depleted","#
                + #""occurred_at":"2026-11-24T10:00:00.000Z"}"#)
        #expect(run.tick(seconds: 299).events.isEmpty)
        try run.use(seconds: 1)  // still in grace, same deadline
        #expect(run.account.blockState == .grace(blockAt: t0.adding(seconds: 300), depletedBy: .entry(2)))
        let blocked = run.tick(seconds: 1)
        #expect(blocked.account.blockState == .blocked(depletedBy: .entry(2)))
        #expect(run.blockEvents.map(\.kind) == [.depleted, .blocked])
        #expect(run.blockEvents[1].eventID == "cus_1/2/blocked")
        #expect(run.tick(seconds: 1000).events.isEmpty)
        _ = run.command(.addCredits(amount: credits("1"), note: "n"))  // -1 + 1 = 0: still blocked
        #expect(run.account.blockState == .blocked(depletedBy: .entry(2)))
        _ = run.command(.addCredits(amount: credits("0.5"), note: "n"))
        #expect(run.account.blockState == .active)
        #expect(run.blockEvents.last?.kind == .unblocked)
        #expect(run.blockEvents.last?.previousState == "blocked")
        #expect(run.blockEvents.last?.eventID == "cus_1/5/unblocked")
    }

    @Test("topping up during grace unblocks without blocking")
    func graceTopUp() throws {
        var run = enabled(SettingsChange(pricePerMinute: .some(credits("60"))))
        _ = run.command(.addCredits(amount: credits("1"), note: "n"))
        run.forgetEvents()
        try run.use(seconds: 1)
        _ = run.command(.quickBuy(.package("1000"), paymentRef: "p"))
        #expect(run.account.blockState == .active)
        #expect(run.blockEvents.map(\.kind) == [.depleted, .unblocked])
        #expect(run.blockEvents[1].previousState == "grace")
        #expect(run.tick(seconds: 301).events.isEmpty)
    }

    @Test("grace period 0 blocks at once")
    func graceZero() throws {
        var run = enabled(SettingsChange(pricePerMinute: .some(credits("60")), gracePeriodSeconds: 0))
        _ = run.command(.addCredits(amount: credits("1"), note: "n"))
        run.forgetEvents()
        try run.use(seconds: 1)
        #expect(run.account.blockState == .blocked(depletedBy: .entry(2)))
        #expect(run.blockEvents.map(\.kind) == [.depleted, .blocked])
        #expect(run.blockEvents[0].blockAt == t0)
    }

    @Test("disabling credits unblocks a blocked or grace customer and keeps the balance", arguments: [true, false])
    func disableUnblocks(blockedFirst: Bool) throws {
        var run = enabled(SettingsChange(pricePerMinute: .some(credits("60")), gracePeriodSeconds: blockedFirst ? 0 : 60))
        try run.use(seconds: 3)
        _ = run.command(.disableCredits, id: "off")
        #expect(run.account.blockState == .active)
        #expect(run.account.creditsEnabled == false)
        #expect(run.account.balance.description == "-3")
        let unblocked = run.blockEvents.last
        #expect(unblocked?.kind == .unblocked && unblocked?.reason == "credits_disabled")
        #expect(unblocked?.previousState == (blockedFirst ? "blocked" : "grace"))
        #expect(unblocked?.eventID == "cus_1/command:off/unblocked")
        #expect(run.tick(seconds: 3600).events.isEmpty)
    }

    @Test("a deduct to exactly 0 starts the grace period")
    func deductToZero() {
        var run = enabled()
        _ = run.command(.addCredits(amount: credits("5"), note: "n"))
        run.forgetEvents()
        _ = run.command(.deductCredits(amount: credits("5"), reason: .correction, note: "n", allowNegative: false))
        #expect(run.blockEvents.map(\.kind) == [.depleted])
    }

    @Test("enabling a customer with no credits starts the grace period at once, named after the command")
    func enablingAtZeroDepletes() throws {
        var run = LedgerRun()
        _ = run.command(.enableCredits(SettingsChange(pricePerMinute: .some(credits("60")))), id: "on")
        #expect(run.account.blockState == .grace(blockAt: t0.adding(seconds: 300), depletedBy: .enabling(commandID: "on")))
        #expect(
            run.blockEvents.map(\.json) == [
                #"{"event_id":"cus_1/command:on/depleted","customer_id":"cus_1","#
                    + #""type":"depleted","balance":"0","previous_state":"active","block_at":"2026-11-24T10:05:00.000Z","#
                    + #""reason":"no_credits_when_enabled","occurred_at":"2026-11-24T10:00:00.000Z"}"#
            ])
        try run.use(seconds: 30)  // the call is charged; still in grace
        #expect(run.tick(seconds: 300).account.blockState == .blocked(depletedBy: .enabling(commandID: "on")))
        #expect(run.blockEvents.last?.eventID == "cus_1/command:on/blocked")
        _ = run.command(.addCredits(amount: credits("100"), note: "first top-up"))
        #expect(run.account.blockState == .active)
        #expect(run.blockEvents.map(\.kind) == [.depleted, .blocked, .unblocked])
    }

    @Test("re-enabling at a negative balance depletes again, with event ids of its own")
    func reEnablingNegative() throws {
        var run = LedgerRun()
        _ = run.command(.enableCredits(SettingsChange(pricePerMinute: .some(credits("60")), gracePeriodSeconds: 0)), id: "on-1")
        try run.use(seconds: 50)
        _ = run.command(.disableCredits, id: "off")
        #expect(run.account.blockState == .active)
        _ = run.command(.enableCredits(nil), id: "on-2")
        #expect(run.account.balance.description == "-50")
        #expect(run.account.blockState == .blocked(depletedBy: .enabling(commandID: "on-2")))
        #expect(
            run.blockEvents.map(\.eventID) == [
                "cus_1/command:on-1/depleted", "cus_1/command:on-1/blocked", "cus_1/command:off/unblocked",
                "cus_1/command:on-2/depleted", "cus_1/command:on-2/blocked",
            ])
        #expect(Set(run.blockEvents.map(\.eventID)).count == run.blockEvents.count)
    }

    @Test("enabling with credits stays active; enabling again changes no state")
    func enablingWithCredits() {
        var run = enabled()
        _ = run.command(.addCredits(amount: credits("5"), note: "n"))
        _ = run.command(.enableCredits(nil))
        #expect(run.account.blockState == .active)
        #expect(run.blockEvents.map(\.kind) == [.unblocked])
    }

    @Test("changing the grace period during grace keeps the deadline set when the credits ran out")
    func graceChangeKeepsDeadline() {
        var run = enabled(SettingsChange(gracePeriodSeconds: 300))
        _ = run.command(.configure(SettingsChange(gracePeriodSeconds: 10)))
        #expect(run.account.blockState == .grace(blockAt: t0.adding(seconds: 300), depletedBy: .enabling(commandID: "cmd-1")))
        #expect(run.tick(seconds: 10).events.isEmpty)
        #expect(run.tick(seconds: 290).account.blockState == .blocked(depletedBy: .enabling(commandID: "cmd-1")))
    }

    @Test("command results are the first event and encode the contract fields")
    func resultJSON() {
        var run = enabled()
        let applied = run.command(.addCredits(amount: credits("10"), note: "n"), id: "add-1")
        #expect(
            applied.json == #"{"command_id":"add-1","customer_id":"cus_1","status":"applied","entry_id":1,"#
                + #""balance":"10","processed_at":"2026-11-24T10:00:00.000Z"}"#)
        let rejected = run.command(.quickBuy(.package("x"), paymentRef: "p"), id: "qb")
        #expect(rejected.json.contains(#""status":"rejected","reason":"unknown_package","message":"#))
    }

    @Test("the same inputs always give the same outputs")
    func deterministic() throws {
        func play() throws -> [OutputEvent] {
            var run = enabled(
                SettingsChange(
                    pricePerMinute: .some(credits("1")), lowCreditThreshold: .some(credits("5")),
                    lowCreditAlerts: true))
            _ = run.command(.addCredits(amount: credits("6"), note: "n"))
            try run.use(seconds: 400, llm: "0.01", tools: 2)
            _ = run.tick(seconds: 400)
            return run.events
        }
        #expect(try play() == play())
    }
}

@Suite("Commands bounded in age when idempotency keys are forgotten")
struct CommandAgeTests {
    /// (seconds the command was issued before now (negative: ahead), applied?)
    static let cases: [(Int64, Bool)] = [
        (0, true),
        (89 * 86_400, true),
        (90 * 86_400 - 300, true),
        (90 * 86_400 - 299, false),
        (365 * 86_400, false),
        (-300, true),
        (-301, false),
        (-50 * 365 * 86_400, false),
    ]

    @Test(
        "with a 90-day retention: applied within 90 days less 5 minutes and up to 5 minutes ahead, refused otherwise",
        arguments: cases)
    func bounded(issuedBefore: Int64, applied: Bool) {
        var configuration = LedgerConfiguration()
        configuration.commandMaxAgeSeconds = LedgerConfiguration.commandMaxAge(retentionDays: 90)
        let ledger = Ledger(configuration: configuration)
        let now = t0.adding(seconds: 200 * 86_400)
        let command = AdminCommand(
            commandID: "c", customerID: "cus_1", issuedAt: now.adding(seconds: -issuedBefore), actor: "ops",
            action: .enableCredits(nil))
        let result = ledger.apply(command, to: .new("cus_1"), at: now).commandResult!
        #expect(result.status == (applied ? .applied : .rejected), "\(result.message ?? "")")
        if !applied {
            #expect(result.reason == .invalidCommand)
            #expect(result.message?.contains("issued_at") == true)
        }
    }

    @Test("without a retention any issued_at is applied")
    func unbounded() {
        #expect(LedgerConfiguration.commandMaxAge(retentionDays: 0) == nil)
        let command = AdminCommand(
            commandID: "c", customerID: "cus_1", issuedAt: Timestamp(millisecondsSinceEpoch: 0), actor: "ops",
            action: .enableCredits(nil))
        #expect(Ledger().apply(command, to: .new("cus_1"), at: t0).commandResult?.status == .applied)
    }
}
