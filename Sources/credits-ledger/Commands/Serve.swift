import ArgumentParser
import CreditsService
import Foundation
import Logging
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the service. With no broker configured it starts an embedded Kafka broker on loopback.")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let configuration = try await options.load()
        let logger = Logs.bootstrap(level: configuration.logLevel)
        let (bootstrapServers, broker) = try KafkaSetup.prepare(configuration, logger: logger)
        logger.info(
            "Starting credits-ledger",
            metadata: [
                "brokers": "\(bootstrapServers)", "group_id": "\(configuration.groupID)",
                "store": "\(StoreReaders.location(configuration))", "http_port": "\(configuration.httpPort)",
            ])
        let server = CreditsServer(
            configuration: configuration, bootstrapServers: bootstrapServers, logger: logger,
            signals: [.sigterm, .sigint])
        try await server.run()
        withExtendedLifetime(broker) {}
        logger.info("credits-ledger stopped")
    }
}

struct Broker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a standalone embedded Kafka broker (librdkafka's mock cluster) and print its address.")

    @Option(help: "Partitions per topic.") var partitions: Int32 = 6

    func run() async throws {
        var configuration = ServiceConfiguration()
        configuration.partitions = partitions
        let logger = Logs.bootstrap(level: "info")
        let (bootstrapServers, broker) = try KafkaSetup.prepare(configuration, logger: logger)
        // Written straight to the file descriptor: scripts read the address while the broker runs
        // (print is block-buffered when stdout is not a terminal).
        FileHandle.standardOutput.write(Data((bootstrapServers + "\n").utf8))
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        for await _ in signals { break }
        withExtendedLifetime(broker) {}
    }
}
