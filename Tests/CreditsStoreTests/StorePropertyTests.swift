import CreditsCore
import CreditsStore
import CreditsTestSupport
import Testing

@Suite("Store properties over random batches")
struct StorePropertyTests {
    @Test(
        "random batches with repeats and reopenings keep balances equal to the sum of gapless entries, one input once",
        arguments: 0..<6, [262_144, 7, -7])
    func randomBatches(seed: UInt64, keyRunSize: Int) throws {
        var rng = SeededGenerator(state: seed)
        var options = LedgerStore.Options()
        // -7: runs of 7 keys written 3 rows a batch, so reopenings fall in the middle of runs.
        options.keyRunSize = abs(keyRunSize)
        if keyRunSize < 0 { options.keyRunSliceRows = 3 }
        let fixture = try StoreFixture(options: options)
        let customers = ["a", "b", "c"]
        var sent: [InboundMessage] = []
        try fixture.apply(
            customers.map {
                fixture.message(
                    .command,
                    JSONInputs.command(
                        "en-\($0)", "enable_credits",
                        #""settings":{"price_per_minute":"1.5","grace_period_seconds":30}"#,
                        customer: $0))
            })
        for round in 0..<30 {
            var batch: [InboundMessage] = []
            for index in 0..<Int.random(in: 1...40, using: &rng) {
                let customer = customers.randomElement(using: &rng)!
                if !sent.isEmpty && Int.random(in: 0..<6, using: &rng) == 0 {
                    batch.append(sent.randomElement(using: &rng)!)  // redelivery
                    continue
                }
                let message: InboundMessage
                switch Int.random(in: 0..<5, using: &rng) {
                case 0:
                    message = fixture.message(
                        .command,
                        JSONInputs.command(
                            "add-\(round)-\(index)", "add_credits",
                            #""amount":"\#(Int.random(in: 1...50, using: &rng))","note":"n""#,
                            customer: customer))
                case 1:
                    message = fixture.message(
                        .command,
                        JSONInputs.command(
                            "ded-\(round)-\(index)", "deduct_credits",
                            #""amount":"\#(Int.random(in: 1...50, using: &rng)).5","reason":"manual","note":"n""#,
                            customer: customer))
                default:
                    message = fixture.message(
                        .usage,
                        JSONInputs.usage(
                            "u-\(round)-\(index)", #""call_seconds":\#(Int.random(in: 0...300, using: &rng)),"tool_calls":2"#,
                            customer: customer))
                }
                sent.append(message)
                batch.append(message)
            }
            try fixture.apply(batch, at: t0.adding(seconds: Int64(round * 10)))
            try fixture.store.fireDueDeadlines(at: t0.adding(seconds: Int64(round * 10)))
            if round % 7 == 3 { try fixture.reopen() }
        }
        let report = try fixture.reader().verify()
        #expect(report.problems == [])
        #expect(report.customers == 3)
        for customer in customers {
            let entries = try fixture.reader().entries(customer, limit: 100_000, scanLimit: 100_000).entries
            let account = try #require(try fixture.store.account(customer))
            #expect(account.balance.micros == entries.reduce(0) { $0 + $1.amount.micros })
            #expect(entries.map(\.entryID) == Array((1...Int64(entries.count)).reversed()))
            #expect(Set(entries.map(\.source.id)).count == entries.count, "no input applied twice")
        }
    }
}
