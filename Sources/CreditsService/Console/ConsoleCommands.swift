import CreditsCore
import CreditsStore
import Foundation
import Logging
import NIOPosix

/// Sends the console's actions as admin commands on `credits.commands` and waits for each one's
/// result on `credits.command-results`, like `credits-ledger admin` does. The console has no path
/// of its own into the ledger: what it does is in the topic, the audit list and the history.
struct ConsoleCommands: Sendable {
    let configuration: ServiceConfiguration
    let bootstrapServers: String
    let logger: Logger
    /// How long a page waits for a result before saying it has none yet.
    var timeoutSeconds: TimeInterval = 20

    /// A command's result, in words for the page.
    struct Result: Sendable, Equatable {
        var status: String
        var reason: String?
        var message: String?
        var balance: String?
        /// A duplicate's first outcome.
        var originalStatus: String?

        /// True when the command changed something (now, or when it was first sent).
        var succeeded: Bool { status == "applied" || (status == "duplicate" && originalStatus == "applied") }
    }

    /// The key the console signs with: `console.signing_key`, else the first configured key.
    /// Commands are signed whenever a key exists, and must be when signatures are required.
    var signingKey: CommandClient.SigningKey? {
        let keys = configuration.signingKeys
        guard let id = configuration.console.signingKeyID ?? keys.keys.sorted().first, let secret = keys[id] else {
            return nil
        }
        return CommandClient.SigningKey(keyID: id, secret: secret)
    }

    /// Publishes a command of `type` for `customerID` as `actor`, and returns its result.
    /// `commandID` comes from the form, so a form sent twice is one command (the second answers
    /// `duplicate`).
    func submit(
        type: String, customerID: String, commandID: String, actor: String,
        fields: (inout JSONObjectWriter) -> Void
    ) async throws -> Result {
        var command = JSONObjectWriter()
        command.string("command_id", commandID)
        command.string("customer_id", customerID)
        command.string("issued_at", WallClock.now())
        command.string("actor", actor)
        command.string("type", type)
        fields(&command)
        let json = command.finished()
        let outcome = try await NIOThreadPool.singleton.runIfActive { [self] in
            try CommandClient.submit(
                commandJSON: json, commandID: commandID, customerID: customerID, configuration: configuration,
                bootstrapServers: bootstrapServers, signingKey: signingKey, timeout: timeoutSeconds, logger: logger)
        }
        logger.info(
            "console command", metadata: ["type": "\(type)", "customer_id": "\(customerID)", "status": "\(outcome.status)"])
        return Result(
            status: outcome.status,
            reason: JSONText.field("reason", in: outcome.json),
            message: JSONText.field("message", in: outcome.json),
            balance: JSONText.field("balance", in: outcome.json),
            originalStatus: JSONText.field("original_status", in: outcome.json))
    }
}

extension ConsoleCommands.Result {
    /// The sentence the page shows: what happened and, when refused, why.
    func sentence(action: String) -> String {
        let balance =
            balance.flatMap { try? CreditAmount(parsing: $0) }.map { " Current Balance: \(ConsoleFormat.credits($0))." } ?? ""
        switch status {
        case "applied": return "\(action): done.\(balance)"
        case "duplicate": return "\(action): this form was already sent once; it was not applied again.\(balance)"
        default:
            var why = message ?? reason ?? "no reason given"
            if let first = why.first { why = first.uppercased() + why.dropFirst() }
            if !why.hasSuffix(".") { why += "." }
            let explanation = Self.explanation(reason)
            return "\(action): not done. " + (explanation.isEmpty ? "" : explanation + " ") + why
        }
    }

    /// A first sentence for the reasons an operator meets, in the product page's terms.
    static func explanation(_ reason: String?) -> String {
        switch reason {
        case "credits_not_enabled": "AI Credits are not enabled for this customer (Features & Add-ons)."
        case "insufficient_balance":
            "The balance is too low for this deduction (tick \u{201C}Allow the balance to go below 0\u{201D} to deduct anyway)."
        case "unknown_package": "There is no such Quick Buy package."
        case "unauthorized": "The ledger refused the console's signature."
        case "invalid_command": "The ledger refused a value."
        case "amount_out_of_range": "The amount is out of range."
        default: ""
        }
    }
}
