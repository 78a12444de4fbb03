import CreditsCore
import Hummingbird
import Logging
import NIOCore

/// Builds the HTTP application: health, readiness, metrics, the `/v1` read API and the operator
/// console at `/console`.
public enum HTTPServer {
    /// - Parameter bootstrapServers: the brokers the console sends its admin commands to.
    public static func make(
        configuration: ServiceConfiguration, bootstrapServers: String, status: ServiceStatus, metrics: ServiceMetrics,
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
        let model = ReadModel(configuration: configuration)
        // With the embedded broker and no console token, a one-time token makes the console usable
        // out of the box; its sign-in URL is logged once the port is known.
        let oneTimeToken =
            configuration.console.enabled && configuration.usesEmbeddedBroker && configuration.console.operators.isEmpty
            ? ConsoleSessions.randomToken() : nil
        if configuration.console.enabled {
            if configuration.console.operators.isEmpty && oneTimeToken == nil {
                logger.warning("console: no console.tokens configured, so nobody can sign in to /console")
            }
            ConsoleRoutes(
                model: model,
                sessions: ConsoleSessions(
                    operators: configuration.console.operators,
                    timeoutSeconds: configuration.console.sessionTimeoutSeconds, oneTimeToken: oneTimeToken),
                commands: ConsoleCommands(
                    configuration: configuration, bootstrapServers: bootstrapServers,
                    logger: Logger(label: "credits.console")),
                configuration: configuration, offersOneTimeToken: oneTimeToken != nil
            )
            .register(on: router)
        }
        CustomerRoutes(
            model: model, authorizer: authorizer,
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
                if let oneTimeToken, let port {
                    logger.notice(
                        "Operator console: open this loopback address to sign in (works once; set console.tokens for more)",
                        metadata: ["url": "http://127.0.0.1:\(port)\(ConsolePaths.signIn)?token=\(oneTimeToken)"])
                }
            },
            logger: logger)
    }
}
