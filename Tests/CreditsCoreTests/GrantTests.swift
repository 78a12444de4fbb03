import CreditsTestSupport
import Testing

@testable import CreditsCore

/// Expiring credits: grants, the draw-down order, the debt rule, expiry, and automatic top-up.
@Suite("Grants, expiry and automatic top-up")
struct GrantTests {
    /// A grant of a draw-down case: credits, and the days until it expires (nil: never).
    struct Given: Sendable, CustomStringConvertible {
        var credits: String
        var days: Int64?
        var description: String { "\(credits)\(days.map { "@\($0)d" } ?? "")" }
    }

    /// What happens after the grants are added.
    enum Step: Sendable, CustomStringConvertible {
        case use(String)
        case deduct(String, AdminCommand.DeductReason)
        case add(String)
        var description: String {
            switch self {
            case .use(let amount): "use \(amount)"
            case .deduct(let amount, let reason): "\(reason) \(amount)"
            case .add(let amount): "add \(amount)"
            }
        }
    }

    struct DrawCase: Sendable, CustomStringConvertible {
        var name: String
        var grants: [Given]
        var steps: [Step]
        /// The remaining credits of each grant by entry id (grants with nothing left are absent),
        /// in draw-down order.
        var remaining: [(entryID: Int64, credits: String)]
        var balance: String
        var description: String { name }
    }

    static let drawCases: [DrawCase] = [
        DrawCase(
            name: "one grant, partly used", grants: [Given(credits: "10")], steps: [.use("3.5")],
            remaining: [(1, "6.5")], balance: "6.5"),
        DrawCase(
            name: "without expiry: oldest first", grants: [Given(credits: "10"), Given(credits: "10")],
            steps: [.use("12")], remaining: [(2, "8")], balance: "8"),
        DrawCase(
            name: "earliest expiry first, whatever the order added",
            grants: [Given(credits: "10", days: 30), Given(credits: "10", days: 7), Given(credits: "10")],
            steps: [.use("12")], remaining: [(1, "8"), (3, "10")], balance: "18"),
        DrawCase(
            name: "equal expiry: oldest first",
            grants: [Given(credits: "5", days: 7), Given(credits: "5", days: 7), Given(credits: "5", days: 7)],
            steps: [.use("7")], remaining: [(2, "3"), (3, "5")], balance: "8"),
        DrawCase(
            name: "grants without expiry last", grants: [Given(credits: "100"), Given(credits: "1", days: 365)],
            steps: [.use("0.5")], remaining: [(2, "0.5"), (1, "100")], balance: "100.5"),
        DrawCase(
            name: "a draw across many grants",
            grants: (1...20).map { Given(credits: "1", days: Int64(21 - $0)) },
            steps: [.use("17.25")], remaining: [(3, "0.75"), (2, "1"), (1, "1")], balance: "2.75"),
        DrawCase(
            name: "usage beyond every grant: a debt, no grant below 0",
            grants: [Given(credits: "5", days: 3), Given(credits: "5")], steps: [.use("12")],
            remaining: [], balance: "-2"),
        DrawCase(
            name: "the debt is paid first out of the next grant",
            grants: [Given(credits: "5")], steps: [.use("12"), .add("10")], remaining: [(3, "3")], balance: "3"),
        DrawCase(
            name: "a grant smaller than the debt starts at 0", grants: [Given(credits: "1")],
            steps: [.use("5"), .add("3"), .add("2")], remaining: [(4, "1")], balance: "1"),
        DrawCase(
            name: "a refund draws in the same order",
            grants: [Given(credits: "10"), Given(credits: "4", days: 1)], steps: [.deduct("6", .refund)],
            remaining: [(1, "8")], balance: "8"),
        DrawCase(
            name: "a correction to exactly 0 leaves no grant", grants: [Given(credits: "2", days: 1), Given(credits: "3")],
            steps: [.deduct("5", .correction)], remaining: [], balance: "0"),
        DrawCase(
            name: "micro-credits stay exact", grants: [Given(credits: "0.000003", days: 1), Given(credits: "0.000002")],
            steps: [.use("0.000004")], remaining: [(2, "0.000001")], balance: "0.000001"),
    ]

    @Test("draw-down order and the debt rule", arguments: drawCases)
    func drawDown(_ example: DrawCase) throws {
        var run = LedgerRun()
        _ = run.command(.enableCredits(SettingsChange(pricePerMinute: .some(credits("60")))))
        for grant in example.grants {
            let expiry = grant.days.map { run.now.adding(seconds: $0 * 86_400) }
            #expect(run.command(.addCredits(amount: credits(grant.credits), note: "g", expiresAt: expiry)).status == .applied)
        }
        for step in example.steps {
            switch step {
            case .use(let amount):
                // price 60/min: one second costs one credit; the rest as tool calls at 0.000001.
                let charge = credits(amount)
                _ = run.command(.configure(SettingsChange(toolCallPrice: CreditAmount(micros: charge.micros))))
                try run.use(tools: 1)
            case .deduct(let amount, let reason):
                let result = run.command(.deductCredits(amount: credits(amount), reason: reason, note: "n", allowNegative: true))
                #expect(result.status == .applied)
            case .add(let amount):
                _ = run.command(.addCredits(amount: credits(amount), note: "g"))
            }
        }
        #expect(run.account.balance == credits(example.balance))
        #expect(run.account.grants.active.map(\.entryID) == example.remaining.map(\.entryID))
        #expect(run.account.grants.active.map(\.remaining) == example.remaining.map { credits($0.credits) })
        #expect(run.account.grants.remaining.micros == max(run.account.balance.micros, 0))
    }

    @Test("a grant's rest expires at expires_at: an expired entry naming the grant, with its consequences")
    func expiry() throws {
        var run = LedgerRun()
        _ = run.command(
            .enableCredits(
                SettingsChange(
                    pricePerMinute: .some(credits("60")), gracePeriodSeconds: 60, lowCreditThreshold: .some(credits("5")),
                    lowCreditAlerts: true)))
        let at = run.now.adding(seconds: 3_600)
        _ = run.command(.addCredits(amount: credits("10"), note: "Trial credits", expiresAt: at))
        try run.use(seconds: 4)
        #expect(run.account.nextDeadline == at)
        #expect(run.account.grants.nextExpiry == NextExpiry(at: at, amount: credits("6")))
        run.forgetEvents()
        #expect(run.tick(seconds: 3_599).events.isEmpty)
        let fired = run.tick(seconds: 1)
        let entry = try #require(fired.entries.first)
        #expect(fired.entries.count == 1)
        #expect(entry.kind == .expired && entry.amount == credits("-6") && entry.balance == .zero)
        #expect(entry.source == .expiry(grantEntryID: 1) && entry.source.kind == "expiry" && entry.source.id == "1")
        #expect(entry.note.contains("entry 1") && entry.note.contains("Trial credits") && entry.occurredAt == at)
        #expect(run.account.grants.active.isEmpty && run.account.nextDeadline == at.adding(seconds: 60))
        #expect(run.blockEvents.map(\.kind) == [.depleted])
        #expect(run.lowCreditAlerts.count == 1)
        #expect(entry.json.contains(#""type":"expired""#) && entry.json.contains(#""source":{"kind":"expiry","id":"1"}"#))
    }

    @Test("a grant with nothing left expires without an entry; an input after expires_at expires it first")
    func expiryOrder() throws {
        var run = LedgerRun()
        _ = run.command(.enableCredits(SettingsChange(pricePerMinute: .some(credits("60")))))
        let soon = run.now.adding(seconds: 60)
        _ = run.command(.addCredits(amount: credits("2"), note: "a", expiresAt: soon))
        _ = run.command(.addCredits(amount: credits("5"), note: "b", expiresAt: soon.adding(seconds: 60)))
        _ = run.command(.addCredits(amount: credits("100"), note: "c"))
        try run.use(seconds: 2)  // grant 1 spent
        #expect(run.account.grants.active.map(\.entryID) == [2, 3])
        #expect(run.tick(seconds: 60).entries.isEmpty)  // grant 1's expiry: nothing left, no entry
        // No deadline fires for grant 2; a usage event 70 s later expires it before it is charged.
        run.now = run.now.adding(seconds: 70)
        let usage = try run.use(seconds: 1)
        #expect(usage.entries.map(\.kind) == [.expired, .used])
        #expect(usage.entries.map(\.amount) == [credits("-5"), credits("-1")])
        #expect(run.account.balance == credits("99") && run.account.grants.active.map(\.entryID) == [3])
        // A rejected command still keeps the expiry the processing time implies.
        run.now = run.now.adding(seconds: 10)
        _ = run.command(.addCredits(amount: credits("1"), note: "d", expiresAt: run.now.adding(seconds: 1)))
        run.now = run.now.adding(seconds: 5)
        let rejected = run.command(.deductCredits(amount: credits("1000"), reason: .manual, note: "n", allowNegative: false))
        #expect(rejected.status == .rejected && rejected.balance == credits("99"))
        #expect(run.entries.last?.kind == .expired)
        // A settings change applied after an expiry: its result names no entry (the expiry's is not its own).
        _ = run.command(.addCredits(amount: credits("2"), note: "e", expiresAt: run.now.adding(seconds: 1)))
        run.now = run.now.adding(seconds: 2)
        let configured = run.command(.configure(SettingsChange(gracePeriodSeconds: 10)))
        #expect(configured.status == .applied && configured.entryID == nil && run.entries.last?.kind == .expired)
    }

    @Test("expires_at must be later than the processing time; a package's validity sets it")
    func expiresAtRules() throws {
        var run = LedgerRun()
        run.ledger = Ledger(
            configuration: LedgerConfiguration(packages: [
                .init(name: "trial", credits: CreditAmount(credits: 50), validityDays: 30),
                .init(name: "1000", credits: CreditAmount(credits: 1000)),
            ]))
        _ = run.command(.enableCredits(nil))
        let past = run.command(.addCredits(amount: credits("1"), note: "n", expiresAt: run.now))
        #expect(past.status == .rejected && past.reason == .invalidCommand)
        #expect(past.message?.hasPrefix("expires_at:") == true)
        _ = run.command(.quickBuy(.package("trial"), paymentRef: "p1"))
        _ = run.command(.quickBuy(.package("1000"), paymentRef: "p2"))
        let explicit = run.now.adding(seconds: 86_400)
        _ = run.command(.quickBuy(.package("trial"), paymentRef: "p3", expiresAt: explicit))
        let expiries = run.account.grants.active.map(\.expiresAt)
        #expect(expiries == [explicit, run.now.adding(seconds: 30 * 86_400), nil])
        let decoded = try adminCommand(
            #"{"command_id":"c","customer_id":"cus_1","issued_at":"2026-11-24T10:00:00Z","actor":"a","type":"add_credits","#
                + #""amount":"5","note":"n","expires_at":"2026-12-24T00:00:00Z"}"#)
        #expect(
            decoded.action == .addCredits(amount: credits("5"), note: "n", expiresAt: Timestamp(rfc3339: "2026-12-24T00:00:00Z")))
        #expect(
            commandError(
                #"{"command_id":"c","customer_id":"cus_1","issued_at":"2026-11-24T10:00:00Z","actor":"a","type":"quick_buy","#
                    + #""package":"1000","payment_ref":"p","expires_at":"soon"}"#)?.message.hasPrefix("expires_at:") == true)
    }

    @Test("an expiry changes the command's fingerprint only when given (old commands keep theirs)")
    func canonicalForm() {
        let plain = Make.command("c", .addCredits(amount: credits("5"), note: "n"))
        var expiring = plain
        expiring.action = .addCredits(amount: credits("5"), note: "n", expiresAt: t0.adding(seconds: 60))
        #expect(plain.canonicalForm != expiring.canonicalForm)
        var old = CanonicalForm()
        for text in ["command", "c", "cus_1", "ops@agency", "add_credits"] { old.text(text) }
        old.integer(5_000_000)
        old.text("n")
        #expect(plain.canonicalForm == old)
    }

    @Test("automatic top-up: one request per crossing, re-armed only by an added entry above the threshold")
    func topUp() throws {
        var run = LedgerRun()
        _ = run.command(
            .enableCredits(
                SettingsChange(
                    pricePerMinute: .some(credits("60")), autoTopUpBelow: .some(credits("20")),
                    autoTopUpPackage: .some("1000"))))
        _ = run.command(.addCredits(amount: credits("25"), note: "start"))  // entry 1, above: armed
        func requests() -> [TopUpRequest] {
            run.events.compactMap { if case .topUpRequest(let request) = $0 { request } else { nil } }
        }
        try run.use(seconds: 4)  // 21: above
        #expect(requests().isEmpty)
        try run.use(seconds: 1)  // entry 3 leaves 20: at the threshold
        let first = try #require(requests().first)
        #expect(first.eventID == "cus_1/3/top-up" && first.requestID == first.eventID)
        #expect(first.package == "1000" && first.amount == credits("1000") && first.balance == credits("20"))
        try run.use(seconds: 30)  // further below: no repeat
        _ = run.command(.addCredits(amount: credits("5"), note: "still below"))  // -10 + 5 = -5: not re-armed
        #expect(requests().count == 1 && run.account.topUpRequested)
        // The payment side pays it: quick_buy with command_id = request_id; above again: re-armed.
        _ = run.command(.quickBuy(.package("1000"), paymentRef: "card-1"), id: first.requestID)
        #expect(!run.account.topUpRequested && run.account.balance == credits("995"))
        #expect(first.json.contains(#""request_id":"cus_1/3/top-up""#))
        try run.use(seconds: 980)  // 15: a new crossing, a new request
        #expect(requests().map(\.eventID) == ["cus_1/3/top-up", "cus_1/\(run.account.lastEntryID)/top-up"])
        // Usage that does not cross (already below) and a deduction below: nothing more.
        _ = run.command(.deductCredits(amount: credits("1"), reason: .manual, note: "n", allowNegative: false))
        #expect(requests().count == 2)
        #expect(OutputEvent.topUpRequest(first).message.topic == .topUpRequests)
    }

    @Test("automatic top-up needs a sold package, and sends nothing while credits are disabled")
    func topUpSettings() throws {
        var run = LedgerRun()
        _ = run.command(.enableCredits(nil))
        let missing = run.command(.configure(SettingsChange(autoTopUpBelow: .some(credits("10")))))
        #expect(missing.status == .rejected && missing.reason == .invalidCommand)
        #expect(missing.message?.hasPrefix("auto_top_up_package:") == true)
        let unknown = run.command(.configure(SettingsChange(autoTopUpBelow: .some(credits("10")), autoTopUpPackage: .some("9"))))
        #expect(unknown.status == .rejected && unknown.reason == .unknownPackage)
        #expect(
            run.command(.configure(SettingsChange(autoTopUpBelow: .some(credits("10")), autoTopUpPackage: .some("5000"))))
                .status == .applied)
        #expect(run.command(.configure(SettingsChange(autoTopUpBelow: .some(nil)))).status == .applied)
        #expect(run.account.settings.autoTopUpBelow == nil && run.account.settings.autoTopUpPackage == "5000")
        _ = run.command(.configure(SettingsChange(autoTopUpBelow: .some(credits("10")))))
        _ = run.command(.addCredits(amount: credits("50"), note: "n"))
        _ = run.command(.disableCredits)
        run.forgetEvents()
        _ = run.command(.addCredits(amount: credits("1"), note: "n"))  // rejected: disabled
        #expect(!run.events.contains { if case .topUpRequest = $0 { true } else { false } })
    }

    @Test("every entry's hash chains on the previous one; the account's head is the newest")
    func hashChain() throws {
        var run = LedgerRun()
        _ = run.command(.enableCredits(SettingsChange(pricePerMinute: .some(credits("1.5")))))
        _ = run.command(.addCredits(amount: credits("10"), note: "Añadido «x»", expiresAt: run.now.adding(seconds: 5)))
        try run.use(seconds: 30)
        _ = run.tick(seconds: 5)
        var previous = EntryHash.genesis
        for entry in run.entries {
            #expect(entry.hash == EntryHash.of(entry, previous: previous) && entry.hash.description.count == 64)
            previous = entry.hash
        }
        #expect(run.entries.map(\.kind) == [.added, .used, .expired] && run.account.headHash == previous)
        // The layout: "2:" counts bytes, not characters.
        let preimage = String(decoding: EntryHash.preimage(of: run.entries[0], previous: EntryHash.genesis), as: UTF8.self)
        #expect(
            preimage.contains("14:Añadido «x»") && preimage.hasPrefix(EntryHash.genesis.description + "5:cus_11:15:added2:102:10")
        )
        var edited = run.entries[1]
        edited.amount = credits("-0.5")
        #expect(EntryHash.of(edited, previous: run.entries[0].hash) != run.entries[1].hash)
    }

    @Test("random streams: balance = the grants' remaining - the debt, in draw-down order", arguments: 0..<60)
    func randomStreams(seed: UInt64) throws {
        var rng = SeededGenerator(state: seed &+ 9_000)
        var run = LedgerRun()
        _ = run.command(.enableCredits(SettingsChange(pricePerMinute: .some(credits("6")))))
        func amount() -> CreditAmount { CreditAmount(micros: Int64.random(in: 1...20_000_000, using: &rng)) }
        var previous = EntryHash.genesis
        for step in 0..<150 {
            switch Int.random(in: 0..<8, using: &rng) {
            case 0, 1:
                let expiry = Bool.random(using: &rng) ? run.now.adding(seconds: Int64.random(in: 1...600, using: &rng)) : nil
                _ = run.command(.addCredits(amount: amount(), note: "g\(step)", expiresAt: expiry))
            case 2, 3: try run.use(seconds: Int64.random(in: 0...120, using: &rng))
            case 4:
                _ = run.command(
                    .deductCredits(
                        amount: amount(), reason: [.refund, .correction, .manual].randomElement(using: &rng)!, note: "n",
                        allowNegative: Bool.random(using: &rng)))
            case 5: _ = run.tick(seconds: Int64.random(in: 0...200, using: &rng))
            case 6: run.now = run.now.adding(seconds: Int64.random(in: 0...100, using: &rng))
            default: _ = run.command(step % 17 == 0 ? .disableCredits : .enableCredits(nil))
            }
            let account = run.account
            let grants = account.grants.active
            #expect(account.grants.remaining.micros == max(account.balance.micros, 0), "seed \(seed) step \(step)")
            #expect(grants.allSatisfy { $0.remaining.micros > 0 && $0.remaining <= $0.amount })
            #expect(zip(grants, grants.dropFirst()).allSatisfy { Grant.drawsBefore($0, $1) })
        }
        for entry in run.entries {
            #expect(entry.hash == EntryHash.of(entry, previous: previous))
            previous = entry.hash
        }
        #expect(run.entries.reduce(0) { $0 + $1.amount.micros } == run.account.balance.micros)
    }
}
