import ArgumentParser
import CreditsCore
import CreditsService
import CreditsStore
import Foundation

/// Connection options of the commands that talk to Kafka.
struct KafkaOptions: ParsableArguments {
    @OptionGroup var config: ConfigOptions

    @Option(help: "Bootstrap servers (default: kafka.brokers / CREDITS_KAFKA_BROKERS).")
    var brokers: String?

    func resolve() async throws -> (ServiceConfiguration, String) {
        let configuration = try await config.load()
        let servers = brokers ?? configuration.brokers
        guard servers != "embedded", !servers.isEmpty else {
            throw ValidationError("give --brokers host:port (serve logs the embedded broker's address)")
        }
        return (configuration, servers)
    }
}

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish an admin command and wait for its result (exit 1 when rejected).",
        subcommands: [Enable.self, Configure.self, Add.self, QuickBuy.self, Deduct.self, Disable.self])
}

/// Fields every admin command carries.
struct CommandOptions: ParsableArguments {
    @OptionGroup var kafka: KafkaOptions
    @Argument(help: "Customer id.") var customer: String
    @Option(help: "Who issues the command (default: $USER).") var actor: String?
    @Option(help: "Command id (default: a new UUID).") var commandID: String?
    @OptionGroup var signing: SigningOptions

    /// Publishes the command built from `fields` and prints its result.
    func submit(type: String, fields: (inout JSONObjectWriter) -> Void) async throws {
        let (configuration, brokers) = try await kafka.resolve()
        let commandID = commandID ?? UUID().uuidString.lowercased()
        var command = JSONObjectWriter()
        command.string("command_id", commandID)
        command.string("customer_id", customer)
        command.string("issued_at", WallClock.now())
        command.string("actor", actor ?? ProcessInfo.processInfo.environment["USER"] ?? "credits-ledger-cli")
        command.string("type", type)
        fields(&command)
        let logger = Logs.bootstrap(level: "error")
        let outcome = try CommandClient.submit(
            commandJSON: command.finished(), commandID: commandID, customerID: customer,
            configuration: configuration, bootstrapServers: brokers,
            signingKey: try signing.key(), logger: logger)
        print(outcome.json)
        if outcome.status == "rejected" { throw ExitCode(1) }
    }
}

/// How the CLI signs commands: the key's id on the command line, the secret never.
struct SigningOptions: ParsableArguments {
    @Option(help: "Sign with this key id; the secret comes from $CREDITS_SIGNING_KEY or --signing-key-file.")
    var signingKeyID: String?
    @Option(help: "File holding the signing secret (instead of $CREDITS_SIGNING_KEY).")
    var signingKeyFile: String?

    func key() throws -> CommandClient.SigningKey? {
        guard let signingKeyID else { return nil }
        let source = signingKeyFile.map { "file:" + $0 } ?? "env:CREDITS_SIGNING_KEY"
        do {
            return CommandClient.SigningKey(
                keyID: signingKeyID,
                secret: try Secret.load(source, environment: ProcessInfo.processInfo.environment))
        } catch {
            throw ValidationError("signing key \(signingKeyID): \(error)")
        }
    }
}

/// Settings flags shared by enable and configure.
struct SettingsOptions: ParsableArguments {
    @Option(help: "Credits per minute of call.") var pricePerMinute: String?
    @Option(help: "Seconds before blocking once credits run out (0-604800).") var gracePeriodSeconds: Int?
    @Option(help: "Low-credit alert threshold.") var lowCreditThreshold: String?
    @Option(help: "Low-credit alerts on or off (true/false).") var lowCreditAlerts: Bool?
    @Option(help: "Credits per tool call.") var toolCallPrice: String?
    @Option(help: "Credits per US dollar of AI cost.") var creditsPerUsd: String?
    @Option(help: "Seconds of a call one hold covers (30-86400).") var callHoldSeconds: Int?
    @Option(help: "Credits per minute holds are sized with (default: the price).") var callHoldRate: String?
    @Option(help: "Request an automatic top-up when the balance falls to or below this.") var autoTopUpBelow: String?
    @Option(help: "The Quick Buy package an automatic top-up buys.") var autoTopUpPackage: String?

    func write(into object: inout JSONObjectWriter) {
        object.optionalString("price_per_minute", pricePerMinute)
        if let gracePeriodSeconds { object.int("grace_period_seconds", Int64(gracePeriodSeconds)) }
        object.optionalString("low_credit_threshold", lowCreditThreshold)
        if let lowCreditAlerts { object.bool("low_credit_alerts", lowCreditAlerts) }
        object.optionalString("tool_call_price", toolCallPrice)
        object.optionalString("credits_per_usd", creditsPerUsd)
        if let callHoldSeconds { object.int("call_hold_seconds", Int64(callHoldSeconds)) }
        object.optionalString("call_hold_rate", callHoldRate)
        object.optionalString("auto_top_up_below", autoTopUpBelow)
        object.optionalString("auto_top_up_package", autoTopUpPackage)
    }
}

extension Admin {
    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Turn AI credits on, optionally with settings.")
        @OptionGroup var command: CommandOptions
        @OptionGroup var settings: SettingsOptions

        func run() async throws {
            try await command.submit(type: "enable_credits") { object in
                var fields = JSONObjectWriter()
                settings.write(into: &fields)
                object.object("settings", fields)
            }
        }
    }

    struct Configure: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change credit settings.")
        @OptionGroup var command: CommandOptions
        @OptionGroup var settings: SettingsOptions

        func run() async throws {
            try await command.submit(type: "configure") { settings.write(into: &$0) }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Turn AI credits off (balance kept; unblocks).")
        @OptionGroup var command: CommandOptions

        func run() async throws {
            try await command.submit(type: "disable_credits") { _ in }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add credits with a note.")
        @OptionGroup var command: CommandOptions
        @Option(help: "Credits to add, e.g. 1000 or 12.5.") var amount: String
        @Option(help: "Why, e.g. \"Monthly package - 1000 credits\".") var note: String
        @Option(help: "When the credits expire (RFC 3339); never when absent.") var expiresAt: String?

        func run() async throws {
            try await command.submit(type: "add_credits") {
                $0.string("amount", amount)
                $0.string("note", note)
                $0.optionalString("expires_at", expiresAt)
            }
        }
    }

    struct QuickBuy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "quick-buy", abstract: "Sell a Quick Buy package.")
        @OptionGroup var command: CommandOptions
        @Option(help: "Package name (1000, 5000, 10000 by default).") var package: String?
        @Option(help: "Or an explicit amount of credits.") var amount: String?
        @Option(help: "Payment reference.") var paymentRef: String
        @Option(help: "When the credits expire (RFC 3339); default: the package's validity.") var expiresAt: String?

        func validate() throws {
            guard (package == nil) != (amount == nil) else { throw ValidationError("give --package or --amount") }
        }

        func run() async throws {
            try await command.submit(type: "quick_buy") { object in
                object.optionalString("package", package)
                object.optionalString("amount", amount)
                object.string("payment_ref", paymentRef)
                object.optionalString("expires_at", expiresAt)
            }
        }
    }

    struct Deduct: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deduct credits (refund, correction, manual).")
        @OptionGroup var command: CommandOptions
        @Option(help: "Credits to deduct.") var amount: String
        @Option(help: "refund, correction or manual.") var reason: String
        @Option(help: "Why, e.g. \"Refund for failed calls\".") var note: String
        @Flag(help: "Allow the balance to go below 0.") var allowNegative = false

        func run() async throws {
            try await command.submit(type: "deduct_credits") { object in
                object.string("amount", amount)
                object.string("reason", reason)
                object.string("note", note)
                object.bool("allow_negative", allowNegative)
            }
        }
    }
}
