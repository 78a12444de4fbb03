import Testing

@testable import CreditsCore

@Suite("Account table: version, minutes left, burn rate, projected depletion")
struct AccountStateTests {
    func accountEvents(_ events: [OutputEvent]) -> [AccountState] {
        events.compactMap { if case .account(let state) = $0 { state } else { nil } }
    }

    @Test("every change of the account publishes its whole state once, last, with the version one higher")
    func versionAndEvent() throws {
        var run = LedgerRun()
        let enable = run.ledger.apply(Make.command("on", .enableCredits(nil)), to: run.account, at: t0)
        #expect(accountEvents(enable.allEvents).map(\.account.version) == [1])
        if case .account = enable.allEvents.last {} else { Issue.record("the account state is the last event") }
        run.absorb(enable)
        let add = run.ledger.apply(Make.command("add", .addCredits(amount: credits("10"), note: "n")), to: run.account, at: t0)
        #expect(accountEvents(add.allEvents).map(\.account.version) == [2])
        #expect(accountEvents(add.allEvents).first?.account == add.account, "the state after every other event of the input")
        run.absorb(add)
        // No change, no state: a rejection, and a usage of a disabled customer.
        let rejected = run.ledger.apply(
            Make.command("too-much", .deductCredits(amount: credits("99"), reason: .manual, note: "n", allowNegative: false)),
            to: run.account, at: t0)
        #expect(accountEvents(rejected.allEvents).isEmpty && rejected.account.version == 2)
        var disabled = LedgerRun()
        #expect(accountEvents(try disabled.use(seconds: 60).allEvents).isEmpty)
        // A grace deadline that blocks is a change; one that finds nothing to do is not.
        var grace = LedgerRun()
        _ = grace.command(.enableCredits(SettingsChange(gracePeriodSeconds: 60)))
        #expect(accountEvents(grace.ledger.fireDeadlines(for: grace.account, at: t0.adding(seconds: 59)).allEvents).isEmpty)
        let blocked = grace.ledger.fireDeadlines(for: grace.account, at: t0.adding(seconds: 60))
        #expect(accountEvents(blocked.allEvents).map(\.account.blockState.name) == ["blocked"])
        #expect(blocked.account.version == grace.account.version + 1)
    }

    @Test("the account state's JSON carries the table's fields")
    func json() throws {
        var run = LedgerRun()
        _ = run.command(
            .enableCredits(SettingsChange(pricePerMinute: .some(credits("2")), lowCreditThreshold: .some(credits("5")))))
        let transition = run.ledger.apply(
            Make.command("add", .addCredits(amount: credits("100"), note: "n")), to: run.account, at: t0)
        let state = try #require(accountEvents(transition.allEvents).first)
        #expect(
            state.json
                == #"{"customer_id":"cus_1","version":2,"credits_enabled":true,"balance":"100","state":"active","#
                + #""last_entry_id":1,"price_per_minute":"2","minutes_left":50,"burn_rate_per_hour":"0","#
                + #""low_credit_threshold":"5","held":"0","available":"100","live_calls":0,"#
                + #""head_hash":"fcc5533817c3fa3a86d722d5e7029b458e0e0f700c1a9a8c9f56bf9264fc606b","#
                + #""updated_at":"2026-11-24T10:00:00.000Z"}"#)
        #expect(OutputEvent.account(state).message.topic == .accounts && OutputEvent.account(state).message.key == "cus_1")
    }

    @Test("minutes left: whole minutes at the price, 0 at or below zero, absent without a price")
    func minutesLeft() {
        var account = CustomerAccount.new("c")
        #expect(AccountProjection(account, at: t0).minutesLeft == nil)
        account.settings.pricePerMinute = credits("1.5")
        account.balance = credits("4.499999")
        #expect(AccountProjection(account, at: t0).minutesLeft == 2)
        account.balance = credits("4.5")
        #expect(AccountProjection(account, at: t0).minutesLeft == 3)
        account.balance = credits("-3")
        #expect(AccountProjection(account, at: t0).minutesLeft == 0)
        account.settings.pricePerMinute = .zero
        #expect(AccountProjection(account, at: t0).minutesLeft == nil)
    }

    @Test("burn rate: used credits of the current hour and the 23 before, over 24; older usage and other entries do not count")
    func burnRate() throws {
        var window = UsageWindow()
        window.add(24_000_000, at: t0, now: t0)  // 24 credits now
        window.add(48_000_000, at: t0.adding(seconds: -23 * 3600), now: t0)  // 23 h ago: in
        window.add(1_000_000_000, at: t0.adding(seconds: -24 * 3600), now: t0)  // 24 h ago: out
        #expect(window.burnRatePerHour(at: t0).description == "3")
        #expect(window.hours.count == 2)
        // An hour later the older hour has left the window.
        #expect(window.burnRatePerHour(at: t0.adding(seconds: 3600)).description == "1")
        // Stored form round trip.
        #expect(UsageWindow(encoded: window.encoded) == window)
        #expect(UsageWindow(encoded: "x,1:2,3").hours == [UsageWindow.Hour(hour: 1, micros: 2)])
        // The stored form stores keep: `hour:micros,…` (then `|day:micros,…|lastSpikeHour`).
        let hour = t0.millisecondsSinceEpoch / 3_600_000
        #expect(window.encoded == "\(hour - 23):48000000,\(hour):24000000|\((hour - 24) / 24):1000000000|")
        let stored = "\(hour - 1):5,\(hour):7|\(hour / 24 - 3):11|\(hour)"
        #expect(UsageWindow(encoded: stored).encoded == stored)
        #expect(UsageWindow(encoded: "\(hour):7||").encoded == "\(hour):7")
        // Through the ledger: only `used` entries feed it, by occurred_at.
        var run = LedgerRun()
        _ = run.command(.enableCredits(SettingsChange(pricePerMinute: .some(credits("60")))))
        _ = run.command(.addCredits(amount: credits("1000"), note: "n"))
        try run.use(seconds: 120)  // 120 credits
        #expect(run.account.usage.burnRatePerHour(at: t0).description == "5")
        let old = try run.ledger.apply(
            UsageEvent(eventID: "old", customerID: "cus_1", occurredAt: t0.adding(seconds: -3 * 86_400), callSeconds: 60),
            to: run.account, at: t0)
        #expect(old.account.usage.burnRatePerHour(at: t0).description == "5", "usage stamped 3 days ago is outside the window")
        #expect(old.account.balance.description == "820", "but it is charged")
    }

    @Test("future-dated usage beyond the clock skew is charged but left out of the burn rate, projections and the window")
    func futureUsage() throws {
        var run = LedgerRun()
        _ = run.command(.enableCredits(SettingsChange(pricePerMinute: .some(credits("60")))))
        _ = run.command(.addCredits(amount: credits("1000"), note: "n"))
        // One event in each of 500 hours of 2099, and one an hour from now.
        for index in 0..<500 {
            let usage = UsageEvent(
                eventID: "future-\(index)", customerID: "cus_1",
                occurredAt: Timestamp(rfc3339: "2099-01-01T00:00:00Z")!.adding(seconds: Int64(index) * 3600), callSeconds: 1)
            run.absorb(try run.ledger.apply(usage, to: run.account, at: t0))
        }
        let nextHour = UsageEvent(eventID: "next", customerID: "cus_1", occurredAt: t0.adding(seconds: 3600), callSeconds: 1)
        run.absorb(try run.ledger.apply(nextHour, to: run.account, at: t0))
        #expect(run.account.balance.description == "499", "every event is charged")
        #expect(run.account.usage.hours.isEmpty && run.account.usage.days.isEmpty, "no bucket for a future hour")
        #expect(run.account.usage.burnRatePerHour(at: t0) == .zero)
        #expect(AccountProjection(run.account, at: t0).projectedDepletionAt == nil)
        // Within the skew (4 minutes ahead) it counts, in its hour, once that hour has come.
        var window = UsageWindow()
        let soon = t0.adding(seconds: 3600 - (t0.millisecondsSinceEpoch / 1000) % 3600 + 60)  // next hour, 1 min in
        window.add(24_000_000, at: soon, now: soon.adding(seconds: -240))
        #expect(window.hours.count == 1)
        #expect(window.burnRatePerHour(at: soon.adding(seconds: -240)) == .zero, "not before its hour")
        #expect(window.burnRatePerHour(at: soon).description == "1")
    }

    @Test("projected depletion: now + balance / burn rate; none without burn, at or below zero, or past year 9999")
    func projection() {
        var account = CustomerAccount.new("c")
        account.balance = credits("100")
        #expect(AccountProjection(account, at: t0).projectedDepletionAt == nil)
        account.usage.add(240_000_000, at: t0, now: t0)  // 240 credits in the window: 10 per hour
        #expect(AccountProjection(account, at: t0).projectedDepletionAt == t0.adding(seconds: 10 * 3600))
        #expect(AccountProjection(account, at: t0).burnRatePerHour.description == "10")
        account.balance = .zero
        #expect(AccountProjection(account, at: t0).projectedDepletionAt == nil)
        account.balance = credits("1000000000000")
        var slow = UsageWindow()
        slow.add(24, at: t0, now: t0)  // 0.000001 per hour
        account.usage = slow
        #expect(AccountProjection(account, at: t0).projectedDepletionAt == nil, "10^18 hours away")
    }
}

@Suite("Audit records: what an applied command changed")
struct AuditRecordTests {
    @Test("each changed field from what to what; nothing for a command that changes nothing or is rejected")
    func changes() {
        var run = LedgerRun()
        let enable = run.ledger.apply(
            Make.command("on", .enableCredits(SettingsChange(pricePerMinute: .some(credits("2"))))), to: run.account, at: t0)
        #expect(
            enable.audit?.changes == [
                .init(field: "credits_enabled", from: "false", to: "true"),
                .init(field: "price_per_minute", from: nil, to: "2"),
                .init(field: "state", from: "active", to: "grace"),
            ])
        #expect(enable.audit?.type == "enable_credits" && enable.audit?.actor == "ops@agency" && enable.audit?.commandID == "on")
        run.absorb(enable)
        let same = run.ledger.apply(
            Make.command("again", .configure(SettingsChange(pricePerMinute: .some(credits("2"))))), to: run.account, at: t0)
        #expect(same.audit == nil)
        let add = run.ledger.apply(Make.command("add", .addCredits(amount: credits("100"), note: "n")), to: run.account, at: t0)
        #expect(
            add.audit?.changes == [
                .init(field: "balance", from: "0", to: "100"), .init(field: "state", from: "grace", to: "active"),
            ])
        run.absorb(add)
        let rejected = run.ledger.apply(
            Make.command("no", .deductCredits(amount: credits("500"), reason: .refund, note: "n", allowNegative: false)),
            to: run.account, at: t0)
        #expect(rejected.audit == nil)
        let record = try! #require(add.audit)
        #expect(AuditRecord.changes(fromJSON: record.changesJSON) == record.changes)
        #expect(
            record.changesJSON == #"[{"field":"balance","from":"0","to":"100"},{"field":"state","from":"grace","to":"active"}]"#)
    }
}

@Suite("Usage spikes: an hour far above the customer's usual")
struct UsageSpikeTests {
    /// A customer with 1 credit a minute and plenty of balance; usage stamped `hoursAgo` before t0.
    func customer() -> LedgerRun {
        var run = LedgerRun()
        _ = run.command(.enableCredits(SettingsChange(pricePerMinute: .some(credits("1")))))
        _ = run.command(.addCredits(amount: credits("100000"), note: "n"))
        return run
    }

    func use(_ run: inout LedgerRun, minutes: Int64, hoursAgo: Int64, id: String) throws -> [UsageAnomaly] {
        let usage = UsageEvent(
            eventID: id, customerID: "cus_1", occurredAt: t0.adding(seconds: -hoursAgo * 3600), callSeconds: minutes * 60)
        let transition = try run.ledger.apply(usage, to: run.account, at: t0)
        run.absorb(transition)
        return transition.events.compactMap { if case .anomaly(let anomaly) = $0 { anomaly } else { nil } }
    }

    @Test("above 5x the 7-day hourly average and at least 10 credits: one report per hour, with its figures")
    func spike() throws {
        var run = customer()
        // A baseline: 24 credits on each of the 6 days before: 144 / 168 = 0.857142 an hour.
        for day in 1...6 { _ = try use(&run, minutes: 24, hoursAgo: Int64(day) * 24 + 3, id: "d\(day)") }
        #expect(try use(&run, minutes: 4, hoursAgo: 0, id: "small").isEmpty, "4 credits: below min_credits")
        #expect(try use(&run, minutes: 5, hoursAgo: 0, id: "at-five").isEmpty, "9 credits: below min_credits")
        let spike = try use(&run, minutes: 2, hoursAgo: 0, id: "over")  // 11 credits > 5 x 0.857142
        #expect(spike.count == 1)
        let report = try #require(spike.first)
        #expect(report.used.description == "11" && report.baselinePerHour.description == "0.857142")
        #expect(report.windowStart == Timestamp(rfc3339: "2026-11-24T10:00:00Z") && report.windowEnd == t0.adding(seconds: 3600))
        #expect(
            report.json
                == #"{"event_id":"cus_1/hour:2026-11-24T10:00:00.000Z/usage_spike","customer_id":"cus_1","kind":"usage_spike","#
                + #""window_start":"2026-11-24T10:00:00.000Z","window_end":"2026-11-24T11:00:00.000Z","used":"11","#
                + #""baseline_per_hour":"0.857142","ratio":"12.83","occurred_at":"2026-11-24T10:00:00.000Z"}"#)
        #expect(try use(&run, minutes: 100, hoursAgo: 0, id: "more").isEmpty, "at most one report per hour")
        // The state survives the stores' round trip.
        #expect(UsageWindow(encoded: run.account.usage.encoded) == run.account.usage)
    }

    @Test("no report without a baseline, or below the ratio")
    func noSpike() throws {
        var fresh = customer()
        #expect(try use(&fresh, minutes: 500, hoursAgo: 0, id: "first").isEmpty, "no history: nothing to compare with")
        var steady = customer()
        _ = try use(&steady, minutes: 24 * 60, hoursAgo: 30, id: "big-day")  // 1440 over the week: 8.57 an hour
        #expect(try use(&steady, minutes: 40, hoursAgo: 0, id: "hour").isEmpty, "40 < 5 x 8.57")
        #expect(try use(&steady, minutes: 3, hoursAgo: 0, id: "hour2").count == 1, "43 > 42.86")
    }
}
