import ArgumentParser
import CreditsCore
import CreditsService
import CreditsStore
import Foundation

/// Opens the configured store read-only.
func openReader(_ options: ConfigOptions) async throws -> any LedgerReading {
    let configuration = try await options.load()
    do {
        return try StoreReaders.open(configuration)
    } catch {
        throw ValidationError("cannot open the store at \(StoreReaders.location(configuration)): \(error)")
    }
}

struct Balance: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a customer's balance, state and settings.")
    @OptionGroup var options: ConfigOptions
    @Argument(help: "Customer id.") var customer: String
    @Option(help: "Show the balance as of this RFC 3339 time instead: after the last entry recorded then or before.")
    var at: String?

    func run() async throws {
        let reader = try await openReader(options)
        guard let account = try reader.account(customer) else {
            throw ValidationError("no customer \(customer) in the ledger")
        }
        if let at {
            guard let time = Timestamp(rfc3339: at) else { throw ValidationError("--at must be an RFC 3339 time") }
            let found = try reader.snapshot { () throws(StoreError) in
                try reader.balance(customer, at: time, scanLimit: .max)
            }
            guard let value = found
            else { throw ValidationError("the history is too long to walk back to \(at)") }
            print("balance at \(time): \(value.balance) (after entry \(value.entryID))")
            return
        }
        let now = WallClock.now()
        let projection = AccountProjection(account, at: now)
        print("customer:        \(account.customerID)")
        print("balance:         \(account.balance)")
        print("last updated:    \(account.balanceUpdatedAt?.description ?? "never")")
        print("credits enabled: \(account.creditsEnabled)")
        var state = account.blockState.name
        if case .grace(let blockAt, _) = account.blockState { state += " (blocks at \(blockAt))" }
        print("state:           \(state)")
        let settings = account.settings
        print("price/minute:    \(settings.pricePerMinute?.description ?? "not configured")")
        print("grace period:    \(settings.gracePeriodSeconds) s")
        print(
            "low credit:      \(settings.lowCreditThreshold?.description ?? "no threshold"), alerts \(settings.lowCreditAlerts ? "on" : "off")"
        )
        print("tool call price: \(settings.toolCallPrice)")
        print(
            "call holds:      \(settings.callHoldSeconds) s at \(settings.callHoldRate?.description ?? "the price")/min; "
                + "\(account.calls.live.count) live, \(account.held) held, \(account.available) available")
        print("minutes left:    \(projection.minutesLeft.map(String.init) ?? "no price")")
        print("burn rate:       \(projection.burnRatePerHour)/h over the last 24 h")
        print("runs out:        \(projection.projectedDepletionAt?.description ?? "not projected")")
        let topUp = settings.autoTopUpBelow.map { "package \(settings.autoTopUpPackage ?? "?") at or below \($0)" }
        print("auto top-up:     \(topUp ?? "off")\(account.topUpRequested ? " (requested)" : "")")
        let expiry = account.grants.nextExpiry.map { "\($0.amount) at \($0.at)" }
        print("grants:          \(account.grants.active.count) with credits left; next expiry \(expiry ?? "none")")
        if account.lastEntryID > 0 { print("head hash:       \(account.headHash)") }
    }
}

struct Grants: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a customer's grants with credits left, in the order they are drawn down.")
    @OptionGroup var options: ConfigOptions
    @Argument(help: "Customer id.") var customer: String

    func run() async throws {
        let reader = try await openReader(options)
        guard let account = try reader.account(customer) else { throw ValidationError("no customer \(customer) in the ledger") }
        print("\(account.grants.active.count) grants hold \(account.grants.remaining) credits; balance \(account.balance)")
        for grant in account.grants.active {
            print(
                "entry \(String(grant.entryID).leftPadded(6))  \(grant.remaining.description.leftPadded(14)) of "
                    + "\(grant.amount.description.leftPadded(14))  expires \(grant.expiresAt?.description ?? "never")  \(grant.note)"
            )
        }
    }
}

struct Calls: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a customer's live calls and their holds (call, held, granted and used seconds, expiry).")
    @OptionGroup var options: ConfigOptions
    @Argument(help: "Customer id.") var customer: String

    func run() async throws {
        let reader = try await openReader(options)
        guard let account = try reader.account(customer) else { throw ValidationError("no customer \(customer) in the ledger") }
        print("\(account.calls.live.count) live calls, \(account.held) held, \(account.available) available")
        for call in account.calls.liveInOrder {
            print(
                "\(call.callID)  held \(call.held)  granted \(call.grantedSeconds) s  used \(call.usedSeconds) s  "
                    + "started \(call.startedAt)  expires \(call.expiresAt)\(call.finalSent ? "  (final)" : "")")
        }
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the commands that changed a customer (who, which, when, what from what), newest first.")
    @OptionGroup var options: ConfigOptions
    @Argument(help: "Customer id.") var customer: String
    @Option(help: "Most records.") var limit = 100

    func run() async throws {
        let reader = try await openReader(options)
        guard try reader.account(customer) != nil else { throw ValidationError("no customer \(customer) in the ledger") }
        let page = try reader.snapshot { () throws(StoreError) in try reader.audit(customer, before: nil, limit: limit) }
        for record in page.records {
            let changes = record.changes.map { "\($0.field) \($0.from ?? "-") -> \($0.to ?? "-")" }.joined(separator: "; ")
            print("\(record.recordedAt)  \(record.actor)  \(record.type) \(record.commandID)  \(changes)")
        }
    }
}

struct Customers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List customers with credits enabled who need attention: by state, at or below their threshold.")
    @OptionGroup var options: ConfigOptions
    @Option(help: "active, grace or blocked.") var state: String?
    @Flag(help: "Only customers at or below their low-credit threshold.") var lowCredit = false
    @Option(help: "Most rows.") var limit = 100

    func run() async throws {
        var filter = CustomerFilter(lowCredit: lowCredit)
        if let state {
            guard let parsed = CustomerFilter.BlockStateName(rawValue: state) else {
                throw ValidationError("--state must be active, grace or blocked")
            }
            filter.state = parsed
        }
        let reader = try await openReader(options)
        let accounts = try reader.snapshot { () throws(StoreError) in try reader.customers(filter, after: nil, limit: limit) }
        print("customer_id,state,balance,low_credit_threshold,block_at")
        for account in accounts {
            var blockAt = ""
            if case .grace(let at, _) = account.blockState { blockAt = at.description }
            print(
                "\(account.customerID),\(account.blockState.name),\(account.balance),"
                    + "\(account.settings.lowCreditThreshold?.description ?? ""),\(blockAt)")
        }
    }
}

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a customer's transactions, newest first.")
    @OptionGroup var options: ConfigOptions
    @Argument(help: "Customer id.") var customer: String
    @Option(help: "Most rows.") var limit = 100
    @Option(help: "Only added, deducted, used or expired.") var type: String?
    @Flag(help: "CSV instead of a table.") var csv = false

    func run() async throws {
        var kind: LedgerEntry.Kind?
        if let type {
            guard let parsed = LedgerEntry.Kind(rawValue: type) else {
                throw ValidationError("--type must be added, deducted, used or expired")
            }
            kind = parsed
        }
        let reader = try await openReader(options)
        let page =
            if let sqlite = reader as? LedgerReader {
                try sqlite.entries(customer, limit: limit, kind: kind, scanLimit: max(limit * 100, 10_000))
            } else {
                try reader.entries(customer, cursor: nil, limit: limit, kind: kind)
            }
        if csv {
            print("entry_id,type,amount,balance,note,date,recorded_at,source_kind,source_id,hash")
            for entry in page.entries {
                func quoted(_ text: String) -> String { "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
                print(
                    "\(entry.entryID),\(entry.kind.rawValue),\(entry.amount),\(entry.balance),\(quoted(entry.note)),"
                        + "\(entry.occurredAt),\(entry.recordedAt),\(entry.source.kind),\(quoted(entry.source.id)),\(entry.hash)")
            }
        } else {
            for entry in page.entries {
                let type = entry.kind.rawValue.capitalized.padding(toLength: 9, withPad: " ", startingAt: 0)
                print(
                    "\(String(entry.entryID).leftPadded(6))  \(type) \(entry.amount.description.leftPadded(16))  "
                        + "\(entry.balance.description.leftPadded(16))  \(entry.occurredAt)  \(entry.note)")
            }
        }
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the store to a new file while the service runs (SQLite online backup).")
    @OptionGroup var options: ConfigOptions
    @Argument(help: "The copy's path; it must not exist.") var destination: String

    func run() async throws {
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw ValidationError("\(destination) exists; give a new file")
        }
        let configuration = try await options.load()
        if configuration.storeURL != nil {
            throw ValidationError(
                "backup copies the SQLite file; back up the shared PostgreSQL store with pg_dump "
                    + "or the database's own backups")
        }
        guard let reader = try await openReader(options) as? LedgerReader else { throw ExitCode(1) }
        try reader.backup(to: destination)
        let report = try LedgerReader(path: destination).verify()
        print(
            "backed up \(report.customers) customers, \(report.entries) entries to \(destination)"
                + (report.isClean ? "; the copy verifies" : "; the copy has \(report.problems.count) problems"))
        if !report.isClean { throw ExitCode(1) }
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Check every customer's entries: balance chain, gapless ids, balance = sum, the hash chain, head hash and grants. Exit 1 on any mismatch, naming the entry."
    )
    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let report = try await openReader(options).verify()
        for problem in report.problems { print("MISMATCH \(problem)") }
        print(
            "verified \(report.customers) customers, \(report.entries) entries: "
                + (report.isClean ? "all consistent" : "\(report.problems.count) problems"))
        if !report.isClean { throw ExitCode(1) }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
