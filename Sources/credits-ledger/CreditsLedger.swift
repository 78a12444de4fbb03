import ArgumentParser

/// The `credits-ledger` command: argument parsing only; the work is in the library modules.
@main
struct CreditsLedger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credits-ledger",
        abstract: "Prepaid AI credits ledger: Kafka in, exact balances in SQLite, events out.",
        subcommands: [
            Serve.self, Broker.self, Demo.self, Admin.self, Balance.self, History.self, Calls.self, Grants.self, Customers.self,
            Audit.self,
            Verify.self,
            Backup.self,
            Healthcheck.self,
        ],
        defaultSubcommand: Serve.self)
}
