import CreditsTestSupport
import Testing

@testable import CreditsCore

@Suite("Properties over random input sequences")
struct PropertyTests {
    @Test(
        "balance equals the sum of entries; entry ids are gapless; states agree with balances",
        arguments: 0..<40)
    func randomSequences(seed: UInt64) throws {
        var rng = SeededGenerator(state: seed)
        var run = LedgerRun()
        func amount() -> CreditAmount { CreditAmount(micros: Int64.random(in: 1...5_000_000_000, using: &rng)) }
        for step in 0..<300 {
            switch Int.random(in: 0..<12, using: &rng) {
            case 0: _ = run.command(.enableCredits(nil))
            case 1: if Int.random(in: 0..<4, using: &rng) == 0 { _ = run.command(.disableCredits) }
            case 2:
                _ = run.command(
                    .configure(
                        SettingsChange(
                            pricePerMinute: .some(Bool.random(using: &rng) ? nil : amount()),
                            gracePeriodSeconds: Int64.random(in: 0...600, using: &rng),
                            lowCreditThreshold: .some(
                                CreditAmount(micros: Int64.random(in: -1_000_000...2_000_000_000, using: &rng))),
                            lowCreditAlerts: Bool.random(using: &rng))))
            case 3, 4: _ = run.command(.addCredits(amount: amount(), note: "n\(step)"))
            case 5:
                _ = run.command(
                    .quickBuy(
                        .package(["1000", "5000", "10000", "7"].randomElement(using: &rng)!),
                        paymentRef: "p"))
            case 6:
                _ = run.command(
                    .deductCredits(
                        amount: amount(), reason: .manual, note: "n",
                        allowNegative: Bool.random(using: &rng)))
            case 7: _ = run.tick(seconds: Int64.random(in: 0...400, using: &rng))
            default:
                try run.use(
                    seconds: Int64.random(in: 0...3600, using: &rng),
                    llm: Bool.random(using: &rng) ? "0.\(Int.random(in: 0...999_999, using: &rng))" : nil,
                    tools: Int64.random(in: 0...50, using: &rng))
            }
            let sum = run.entries.reduce(Int64(0)) { $0 + $1.amount.micros }
            #expect(run.account.balance.micros == sum)
            #expect(
                run.entries.map(\.entryID) == Array(1...Int64(max(run.entries.count, 1))).prefix(run.entries.count).map { $0 })
            if run.account.balance.micros > 0 { #expect(run.account.blockState == .active) }
        }
        var previous: Int64 = 0
        for entry in run.entries {
            #expect(entry.balance.micros == previous + entry.amount.micros)
            previous = entry.balance.micros
        }
        let entryEventIDs = run.events.compactMap { if case .balanceChanged(let e) = $0 { e.entryID } else { nil } }
        #expect(entryEventIDs == run.entries.map(\.entryID))
    }
}
