import ArgumentParser
import CreditsService
import Foundation
import Logging

/// Options every command that reads the configuration shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "YAML configuration file (default: config/credits-ledger.yaml when it exists).")
    var config: String?

    func load() async throws -> ServiceConfiguration {
        let file =
            config
            ?? (FileManager.default.fileExists(atPath: "config/credits-ledger.yaml")
                ? "config/credits-ledger.yaml" : nil)
        return try await ConfigurationLoader.load(file: file, environment: ProcessInfo.processInfo.environment)
    }
}

enum Logs {
    static func bootstrap(level: String) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: level) ?? .info
            return handler
        }
        return Logger(label: "credits-ledger")
    }
}
