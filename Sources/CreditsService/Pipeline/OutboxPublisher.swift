import CreditsCore
import CreditsKafka
import CreditsStore
import Logging

/// Produces outbox messages and removes them from the store once the broker has them.
/// Messages are sent in outbox order; the store forgets a prefix only when all of it is delivered.
final class OutboxPublisher {
    private let producer: KafkaProducer
    private let topics: ServiceConfiguration.Topics
    private let logger: Logger
    /// Sent, not yet acknowledged, in send order.
    private var inFlight: [Int64: OutboxRecord] = [:]
    private var sentOrder: [Int64] = []
    private var sentHead = 0
    private var delivered = Set<Int64>()
    /// Highest seq whose whole prefix is delivered.
    private(set) var deliveredThrough: Int64 = 0
    private(set) var produceErrors = 0

    var inFlightCount: Int { inFlight.count }

    init(producer: KafkaProducer, topics: ServiceConfiguration.Topics, logger: Logger) {
        self.producer = producer
        self.topics = topics
        self.logger = logger
    }

    /// Hands records to the producer (librdkafka batches and sends them in the background).
    func publish(_ records: [OutboxRecord]) throws(KafkaError) {
        var reports: [KafkaDelivery] = []
        let messages = Parallel.map(records) { $0.message }
        for (record, message) in zip(records, messages) {
            try send(message, seq: record.seq, reports: &reports)
            inFlight[record.seq] = record
            sentOrder.append(record.seq)
        }
        try absorb(reports)
    }

    /// Serves delivery reports for up to `timeoutMilliseconds`; returns the new delivered prefix
    /// end when it moved.
    func serveDeliveries(timeoutMilliseconds: Int32) throws(KafkaError) -> Int64? {
        let before = deliveredThrough
        try absorb(producer.pollDeliveries(timeoutMilliseconds: timeoutMilliseconds))
        return deliveredThrough > before ? deliveredThrough : nil
    }

    /// Waits for everything sent to be acknowledged, up to `timeoutMilliseconds`.
    func drain(timeoutMilliseconds: Int) throws(KafkaError) -> Int64? {
        let before = deliveredThrough
        var waited = 0
        while !inFlight.isEmpty && waited < timeoutMilliseconds {
            try absorb(producer.pollDeliveries(timeoutMilliseconds: 50))
            waited += 50
        }
        return deliveredThrough > before ? deliveredThrough : nil
    }

    private func absorb(_ reports: [KafkaDelivery]) throws(KafkaError) {
        var retry: [OutboxRecord] = []
        for report in reports {
            guard let record = inFlight[report.token] else { continue }
            if let error = report.error {
                produceErrors += 1
                logger.warning("Output message not delivered; sending again",
                               metadata: ["seq": "\(report.token)", "topic": "\(topics.name(of: record.message.topic))",
                                          "error": "\(error)"])
                retry.append(record)
            } else {
                inFlight[report.token] = nil
                delivered.insert(report.token)
            }
        }
        while sentHead < sentOrder.count, delivered.remove(sentOrder[sentHead]) != nil {
            deliveredThrough = sentOrder[sentHead]
            sentHead += 1
        }
        if sentHead > 4096 && sentHead * 2 > sentOrder.count {
            sentOrder.removeFirst(sentHead)
            sentHead = 0
        }
        var reports: [KafkaDelivery] = []
        for record in retry { try send(record.message, seq: record.seq, reports: &reports) }
        if !reports.isEmpty { try absorb(reports) }
    }

    /// Hands one message to the producer; its outbox seq comes back in the delivery report.
    private func send(_ message: OutboundMessage, seq: Int64, reports: inout [KafkaDelivery]) throws(KafkaError) {
        try producer.send(topic: topics.name(of: message.topic), key: message.key, value: message.value,
                          token: seq, reports: &reports)
    }
}
