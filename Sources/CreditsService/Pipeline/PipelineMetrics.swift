import CoreMetrics
import CreditsCore
import CreditsStore
import Metrics
import Prometheus

/// The service's Prometheus metrics (one registry per service instance).
public final class ServiceMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    private let ready: CoreMetrics.Gauge

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultValueHistogramBuckets = [1, 10, 50, 100, 500, 1000, 2000, 5000, 10000]
        self.factory = factory
        ready = CoreMetrics.Gauge(label: "credits_ready", factory: factory)
    }

    /// The exposition text of the metrics as last recorded.
    public func exposition() -> String { registry.emitToString() }

    /// The exposition text for `GET /metrics`, with `credits_ready` (1 when `/readyz` is 200, else
    /// 0) as of now.
    public func exposition(status: ServiceStatus) -> String {
        ready.record(status.snapshot.isReady ? 1 : 0)
        return registry.emitToString()
    }
}

/// The pipeline's instruments. Used from the pipeline thread only.
public final class PipelineMetrics {
    private let factory: PrometheusMetricsFactory
    private var counters: [String: CoreMetrics.Counter] = [:]
    private var gauges: [String: CoreMetrics.Gauge] = [:]
    private let batchSize: CoreMetrics.Recorder
    private let batchLatency: CoreMetrics.Timer

    public init(_ metrics: ServiceMetrics) {
        factory = metrics.factory
        batchSize = CoreMetrics.Recorder(label: "credits_apply_batch_size", factory: factory)
        batchLatency = CoreMetrics.Timer(label: "credits_apply_batch_duration", factory: factory)
        // Series that dashboards and alerts read exist from the start, at 0.
        for label in [
            "credits_entries_total", "credits_fenced_batches_total", "credits_produce_errors_total",
            "credits_top_up_requests_total", "credits_expired_grants_total",
        ] {
            counters[label] = CoreMetrics.Counter(label: label, factory: factory)
        }
        counters["credits_anomalies_total|kind=usage_spike"] = CoreMetrics.Counter(
            label: "credits_anomalies_total", dimensions: [("kind", "usage_spike")], factory: factory)
        for decision in CallDecision.Kind.allCases {
            counters["credits_call_decisions_total|decision=\(decision.rawValue)"] = CoreMetrics.Counter(
                label: "credits_call_decisions_total", dimensions: [("decision", decision.rawValue)], factory: factory)
        }
    }

    func count(_ label: String, _ dimensions: [(String, String)], by amount: Int) {
        guard amount > 0 else { return }
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        if counters[key] == nil { counters[key] = CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory) }
        counters[key]!.increment(by: amount)
    }

    func gauge(_ label: String, _ dimensions: [(String, String)], _ value: Double) {
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        if gauges[key] == nil { gauges[key] = CoreMetrics.Gauge(label: label, dimensions: dimensions, factory: factory) }
        gauges[key]!.record(value)
    }

    /// A batch applied: `consumedFrom` holds the topic of each of its messages.
    func batchApplied(_ report: BatchReport, consumedFrom topics: [String], seconds: Double) {
        var consumed: [String: Int] = [:]
        for topic in topics { consumed[topic, default: 0] += 1 }
        for (topic, total) in consumed { count("credits_messages_consumed_total", [("topic", topic)], by: total) }
        for (topic, counts) in report.byTopic {
            count("credits_messages_applied_total", [("topic", topic)], by: counts.applied)
            count("credits_messages_duplicate_total", [("topic", topic)], by: counts.duplicates)
            for (reason, total) in counts.deadLettered {
                count("credits_messages_dead_lettered_total", [("topic", topic), ("reason", reason.rawValue)], by: total)
            }
        }
        for (reason, total) in report.rejectedCommands {
            count("credits_commands_rejected_total", [("reason", reason.rawValue)], by: total)
        }
        count("credits_usage_skipped_total", [("reason", "credits_not_enabled")], by: report.usageNotCharged)
        count("credits_entries_total", [], by: report.entries)
        count("credits_anomalies_total", [("kind", "usage_spike")], by: report.anomalies)
        ledgerEvents(report)
        batchSize.record(topics.count)
        batchLatency.recordNanoseconds(Int64(seconds * 1e9))
    }

    /// `credits_call_decisions_total{decision}`, `credits_top_up_requests_total` and
    /// `credits_expired_grants_total` (batches and fired deadlines).
    func ledgerEvents(_ report: BatchReport) {
        for (decision, total) in report.callDecisions {
            count("credits_call_decisions_total", [("decision", decision.rawValue)], by: total)
        }
        count("credits_top_up_requests_total", [], by: report.topUpRequests)
        count("credits_expired_grants_total", [], by: report.expiredEntries)
    }

    /// `credits_live_calls` and `credits_held_credits`.
    func liveCalls(_ totals: LiveCallTotals) {
        gauge("credits_live_calls", [], Double(totals.calls))
        gauge("credits_held_credits", [], Double(totals.held.micros) / 1e6)
    }

    func signature(_ outcome: CommandSignatures.Outcome) {
        count("credits_command_signatures_total", [("outcome", outcome.rawValue)], by: 1)
    }

    /// A batch (or a timer run) rolled back because another instance applied its partition.
    func fenced() { count("credits_fenced_batches_total", [], by: 1) }

    func outboxInFlight(_ count: Int) { gauge("credits_outbox_in_flight", [], Double(count)) }

    func outboxDepth(_ count: Int) { gauge("credits_outbox_depth", [], Double(count)) }

    func oldestUndelivered(seconds: Double) { gauge("credits_outbox_oldest_undelivered_seconds", [], seconds) }

    func produceErrors(total: Int, reported: inout Int) {
        count("credits_produce_errors_total", [], by: total - reported)
        reported = total
    }

    func lag(_ partition: String, _ value: Int64) { gauge("credits_consumer_lag", [("partition", partition)], Double(value)) }

    func blockStates(_ counts: [String: Int]) {
        for (state, total) in counts { gauge("credits_customers", [("state", state)], Double(total)) }
    }
}
