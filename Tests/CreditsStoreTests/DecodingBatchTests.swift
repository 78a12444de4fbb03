import CreditsCore
import CreditsTestSupport
import Foundation
import Testing

@testable import CreditsStore

@Suite("Decoding a batch while it is applied")
struct DecodingBatchTests {
    typealias J = JSONInputs

    /// A batch of usage, repeats, bad input and commands for several customers, as raw JSON.
    static func inputs(count: Int) -> [(InputKind, String)] {
        var inputs: [(InputKind, String)] = []
        for customer in 1...5 {
            inputs.append(
                (
                    .command,
                    J.command(
                        "enable-\(customer)", "enable_credits", #""settings":{"price_per_minute":"6"}"#,
                        customer: "cus_\(customer)")
                ))
            inputs.append(
                (
                    .command,
                    J.command("add-\(customer)", "add_credits", #""amount":"50","note":"Start""#, customer: "cus_\(customer)")
                ))
        }
        var generator = SeededGenerator(state: 7)
        while inputs.count < count {
            let customer = "cus_\(Int.random(in: 1...5, using: &generator))"
            switch Int.random(in: 0..<10, using: &generator) {
            case 0: inputs.append((.usage, #"{"event_id":"broken"#))
            case 1: inputs.append((.usage, J.usage("u\(inputs.count / 2)", #""call_seconds":30"#, customer: customer)))
            case 2:
                inputs.append(
                    (
                        .command,
                        J.command(
                            "d\(inputs.count)", "deduct_credits", #""amount":"1","reason":"correction","note":"Fix""#,
                            customer: customer)
                    ))
            default:
                inputs.append(
                    (
                        .usage,
                        J.usage(
                            "u\(inputs.count)", #""call_seconds":\#(Int.random(in: 1...90, using: &generator))"#,
                            customer: customer)
                    ))
            }
        }
        return inputs
    }

    static func decode(_ input: (InputKind, String), offset: Int) -> InboundMessage {
        let payload = Array(input.1.utf8)
        let topic = input.0 == .usage ? "credits.usage" : "credits.commands"
        return InboundMessage(
            origin: MessageOrigin(topic: topic, partition: 0, offset: Int64(offset), key: nil, payload: payload),
            input: InputDecoder.decode(input.0, key: nil, payload: payload))
    }

    @Test("the store applies a batch still being decoded exactly as the decoded batch", arguments: [10, 300, 2_000])
    func sameAsDecodedFirst(count: Int) throws {
        let inputs = Self.inputs(count: count)
        let decodedFirst = try StoreFixture()
        let overlapped = try StoreFixture()
        let expected = try decodedFirst.store.apply(inputs.enumerated().map { Self.decode($1, offset: $0) }, at: t0)
        // The decoding thread is made slower than the store now and then, so the store waits.
        let batch = DecodingBatch(count: inputs.count) { index -> (InboundMessage, Int) in
            if index % 97 == 0 { usleep(2_000) }
            return (Self.decode(inputs[index], offset: index), index)
        }
        let report = try overlapped.store.apply(decoding: batch, at: t0)
        #expect(report == expected)
        #expect(try overlapped.store.pendingOutbox(limit: 100_000) == decodedFirst.store.pendingOutbox(limit: 100_000))
        #expect(report.outbox.count > count / 2, "the batch did work")
        #expect(report.byTopic["credits.commands"]?.applied ?? 0 > count / 20, "commands applied too")
        #expect((0..<count).map { batch.note(at: $0) } == Array(0..<count), "each message's note, in order")
    }

    @Test("a small batch is decoded at once, a large one on another thread or on every core, all in order")
    func smallAndLarge() {
        for count in [0, 1, DecodingBatch<Int>.defaultOverlapFrom - 1, DecodingBatch<Int>.defaultOverlapFrom, 1_000] {
            let inputs = Array(Self.inputs(count: max(count, 10)).prefix(count))
            let expected = inputs.enumerated().map { Self.decode($1, offset: $0) }
            // Overlapped from the default size, or never (a store that needs the whole batch).
            for overlapFrom in [DecodingBatch<Int>.defaultOverlapFrom, Int.max] {
                let batch = DecodingBatch(count: count, overlapFrom: overlapFrom) { (Self.decode(inputs[$0], offset: $0), $0) }
                #expect(batch.messages() == expected)
                #expect((0..<count).map { batch.note(at: $0) } == Array(0..<count))
            }
        }
    }
}
