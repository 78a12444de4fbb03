import CreditsCore
import Hummingbird
import Logging
import NIOCore

/// Builds the HTTP application: health, readiness, metrics and the `/v1` read API.
public enum HTTPServer {
    public static func make(
        configuration: ServiceConfiguration, status: ServiceStatus, metrics: ServiceMetrics,
        logger: Logger
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("healthz") { _, _ in "ok\n" }
        router.get("readyz") { _, _ -> Response in
            let snapshot = status.snapshot
            var body = JSONObjectWriter()
            body.bool("ready", snapshot.isReady)
            body.optionalString("reason", snapshot.notReadyReason)
            body.bool("store_open", snapshot.storeOpen)
            body.stringArray("assigned_partitions", snapshot.assignedPartitions)
            var paused = JSONObjectWriter()
            for (partition, reason) in snapshot.pausedPartitions.sorted(by: { $0.key < $1.key }) {
                paused.string(partition, reason)
            }
            body.object("paused_partitions", paused)
            body.bool("stopping", snapshot.stopping)
            body.bool("output_stalled", snapshot.outputStalled)
            body.optionalString("store_error", snapshot.storeError)
            return JSONResponse.make(body, status: snapshot.isReady ? .ok : .serviceUnavailable)
        }
        let authorizer = TokenAuthorizer(tokens: configuration.httpTokens)
        router.get("metrics") { request, _ -> Response in
            try authorizer.authorize(request, for: .metrics)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.exposition(status: status))))
        }
        CustomerRoutes(
            model: ReadModel(configuration: configuration), authorizer: authorizer,
            defaultCreditsPerUSD: configuration.ledger.creditsPerUSD, usageScanLimit: configuration.httpUsageScanLimit
        )
        .register(on: router)
        return Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.httpHost, port: configuration.httpPort),
                serverName: "credits-ledger"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port
                status.update { $0.httpPort = port }
                logger.info("HTTP listening", metadata: ["port": "\(port.map(String.init) ?? "?")"])
            },
            logger: logger)
    }
}
