import CreditsCore
import CreditsKafka
import CreditsService
import Foundation
import Logging

/// The control for `credits-bench e2e`: a stand-in service that does no ledger work at all. It
/// reads every usage partition from the beginning and, for each message, produces to
/// `credits.balance-changed` a message of the ledger's shape and size (its fields, a 64-digit
/// hash that does not compress, the same producer settings), keyed by the customer. Nothing is
/// decoded beyond two fields, nothing is stored, no offset is committed.
///
/// Run in its place (`CREDITS_BENCH_SERVICE=relay credits-bench e2e …`), the benchmark's figures
/// are the bed's own: what the broker, the clients and the machine give with the ledger taken
/// out. A latency tail that the relay shows too is not the ledger's.
func relay(brokers: String) throws -> Never {
    var logger = Logger(label: "bench-relay")
    logger.logLevel = .warning
    let configuration = ServiceConfiguration()
    let settings = configuration.kafkaSettings(bootstrapServers: brokers)
    // The ledger's consumer and producer settings: what `serve` uses against the embedded broker.
    var consumerSettings = settings
    consumerSettings.properties = configuration.consumerProperties.merging(EmbeddedBroker.clientProperties) { _, embedded in
        embedded
    }
    consumerSettings.properties.merge(settings.properties) { _, given in given }
    var producerSettings = LedgerPipeline.outboxProducerSettings(settings)
    producerSettings.properties.merge(EmbeddedBroker.clientProperties) { given, _ in given }

    let consumer = try KafkaConsumer(settings: consumerSettings, logger: logger)
    let usage = configuration.topics.usage
    let partitions = try consumer.partitionCount(of: usage)
    try consumer.assign(
        Dictionary(
            uniqueKeysWithValues: (0..<partitions).map { (TopicPartition(topic: usage, partition: $0), KafkaOffset.beginning) }))
    let producer = try KafkaProducer(settings: producerSettings, logger: logger)
    // Unbuffered: the benchmark waits for this line in the log file.
    FileHandle.standardOutput.write(Data("relay ready: \(partitions) partitions of \(usage)\n".utf8))

    var entries = RelayEntries()
    var reports: [KafkaDelivery] = []
    while true {
        for message in consumer.poll(maxMessages: configuration.batchMaxMessages, timeoutMilliseconds: 100) {
            guard let (customer, eventID) = RelayEntries.fields(of: message.value) else { continue }
            try producer.send(
                topic: configuration.topics.balanceChanged, key: customer,
                value: entries.next(customer: customer, source: eventID),
                token: 0, reports: &reports)
        }
        reports = producer.pollDeliveries(timeoutMilliseconds: 0)
        if let failed = reports.first(where: { $0.error != nil }) {
            throw BenchError("relay: produce failed: \(failed.error ?? "")")
        }
    }
}

/// Balance-changed messages of the ledger's shape for the relay: fields in the ledger's order,
/// counted entry ids, the time of relaying, and a hash from a fast generator (as many hex
/// digits as a SHA-256, as incompressible).
struct RelayEntries {
    private var count = 0
    private var state: UInt64 = 0x9E37_79B9_7F4A_7C15

    mutating func next(customer: String, source: String) -> String {
        count += 1
        let now = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        return #"{"event_id":"\#(customer)/\#(count)/balance-changed","customer_id":"\#(customer)","entry_id":\#(count),"#
            + #""type":"used","amount":"-1.047","balance":"8952.953","note":"Usage of call \#(source)","#
            + #""source":{"kind":"usage","id":"\#(source)"},"breakdown":{"call":"1","ai":"0.017","tool_calls":"0.03"},"#
            + #""occurred_at":"2026-11-24T10:15:00.000Z","recorded_at":"\#(now)","hash":"\#(hash())"}"#
    }

    /// 64 hex digits from SplitMix64.
    private mutating func hash() -> String {
        var digits = ""
        digits.reserveCapacity(64)
        for _ in 0..<4 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var word = state
            word = (word ^ (word >> 30)) &* 0xBF58_476D_1CE4_E5B9
            word = (word ^ (word >> 27)) &* 0x94D0_49BB_1331_11EB
            word ^= word >> 31
            let hex = String(word, radix: 16)
            digits += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return digits
    }

    /// `customer_id` and `event_id` of a usage message, nil when either is missing.
    static func fields(of value: [UInt8]) -> (customer: String, eventID: String)? {
        guard case .object(let fields)? = try? JSONParser.parse(value),
            case .string(let customer)? = fields["customer_id"], case .string(let eventID)? = fields["event_id"]
        else { return nil }
        return (customer, eventID)
    }
}
