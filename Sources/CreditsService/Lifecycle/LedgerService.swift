import Foundation
import Logging
import ServiceLifecycle

/// The pipeline as a `Service`: runs the blocking loop on a thread of its own (never on the
/// cooperative pool) and stops it on graceful shutdown (SIGTERM/SIGINT), draining first.
public struct LedgerService: Service, CustomStringConvertible {
    let configuration: ServiceConfiguration
    let bootstrapServers: String
    let status: ServiceStatus
    let metrics: ServiceMetrics
    let logger: Logger
    /// How far ahead of the machine's the ledger's wall clock runs (0; tests move it).
    let wallClockAheadSeconds: Int64

    public init(
        configuration: ServiceConfiguration, bootstrapServers: String, status: ServiceStatus,
        metrics: ServiceMetrics, logger: Logger, wallClockAheadSeconds: Int64 = 0
    ) {
        self.wallClockAheadSeconds = wallClockAheadSeconds
        self.configuration = configuration
        self.bootstrapServers = bootstrapServers
        self.status = status
        self.metrics = metrics
        self.logger = logger
    }

    /// How the service group names it in logs (never the configuration: it holds secrets).
    public var description: String { "LedgerService" }

    public func run() async throws {
        let stop = StopSignal()
        // Graceful shutdown (a signal) and cancellation (another service of the group failed, e.g.
        // HTTP could not bind its port) both stop the loop; the thread then drains and returns.
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await runPipeline(until: stop)
            } onGracefulShutdown: {
                logger.info("Shutdown requested: finishing the batch in hand")
                status.update { $0.stopping = true }
                stop.stop()
            }
        } onCancel: {
            status.update { $0.stopping = true }
            stop.stop()
        }
    }

    private func runPipeline(until stop: StopSignal) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            let thread = Thread { [configuration, bootstrapServers, status, metrics, logger, wallClockAheadSeconds] in
                do {
                    // The pipeline (its store lock and Kafka clients) is gone before the service
                    // reports that it stopped, so a new one can open the store at once.
                    try {
                        let pipeline = try LedgerPipeline(
                            configuration: configuration, bootstrapServers: bootstrapServers,
                            status: status, metrics: PipelineMetrics(metrics), logger: logger,
                            wallClockAheadSeconds: wallClockAheadSeconds)
                        try pipeline.run(until: stop)
                    }()
                    continuation.resume()
                } catch {
                    logger.critical("Pipeline failed", metadata: ["error": "\(error)"])
                    status.update { $0.stopping = true }
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "credits-pipeline"
            thread.start()
        }
    }
}
