import Testing

@testable import CreditsCore

/// Decodes a usage event from JSON text, failing the test on error.
func usageEvent(_ json: String) throws -> UsageEvent {
    guard case .usage(let event) = InputDecoder.decode(.usage, key: nil, payload: Array(json.utf8)) else {
        throw TestFailure("not a valid usage event: \(InputDecoder.decode(.usage, key: nil, payload: Array(json.utf8)))")
    }
    return event
}

/// Decodes a command from JSON text, failing the test on error.
func adminCommand(_ json: String) throws -> AdminCommand {
    guard case .command(let command) = InputDecoder.decode(.command, key: nil, payload: Array(json.utf8)) else {
        throw TestFailure("not a valid command: \(InputDecoder.decode(.command, key: nil, payload: Array(json.utf8)))")
    }
    return command
}

/// The error a usage payload is rejected with.
func usageError(_ json: String, key: String? = nil) -> InputError? {
    if case .invalid(let error, _) = InputDecoder.decode(.usage, key: key, payload: Array(json.utf8)) { return error }
    return nil
}

func commandError(_ json: String, key: String? = nil) -> InputError? {
    if case .invalid(let error, _) = InputDecoder.decode(.command, key: key, payload: Array(json.utf8)) { return error }
    return nil
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func credits(_ text: String) -> CreditAmount { try! CreditAmount(parsing: text) }

let t0 = Timestamp(rfc3339: "2026-11-24T10:00:00Z")!

/// Builds usage and command inputs with short literals.
enum Make {
    static func usage(
        _ id: String, customer: String = "cus_1", seconds: Int64? = nil, llm: String? = nil,
        tools: Int64? = nil, callID: String? = "call-1"
    ) -> UsageEvent {
        UsageEvent(
            eventID: id, customerID: customer, occurredAt: t0, callID: callID, callSeconds: seconds,
            aiCosts: llm.map { UsageEvent.AICosts(llm: try! USDAmount(parsing: $0)) }, toolCalls: tools)
    }

    static func command(_ id: String, _ action: AdminCommand.Action, customer: String = "cus_1") -> AdminCommand {
        AdminCommand(commandID: id, customerID: customer, issuedAt: t0, actor: "ops@agency", action: action)
    }
}

/// Applies inputs one after another, collecting everything.
struct LedgerRun {
    var ledger = Ledger()
    var account = CustomerAccount.new("cus_1")
    var entries: [LedgerEntry] = []
    var events: [OutputEvent] = []
    var results: [CommandResult] = []
    var now = t0

    mutating func command(_ action: AdminCommand.Action, id: String? = nil) -> CommandResult {
        let command = Make.command(id ?? "cmd-\(results.count + 1)", action)
        let transition = ledger.apply(command, to: account, at: now)
        absorb(transition)
        results.append(transition.commandResult!)
        return transition.commandResult!
    }

    @discardableResult
    mutating func use(seconds: Int64? = nil, llm: String? = nil, tools: Int64? = nil) throws -> LedgerTransition {
        let transition = try ledger.apply(
            Make.usage(
                "u-\(entries.count + events.count)", seconds: seconds, llm: llm,
                tools: tools), to: account, at: now)
        absorb(transition)
        return transition
    }

    mutating func tick(seconds: Int64) -> LedgerTransition {
        now = now.adding(seconds: seconds)
        let transition = ledger.fireDeadlines(for: account, at: now)
        absorb(transition)
        return transition
    }

    /// Drops the events collected so far (those of a test's set-up).
    mutating func forgetEvents() {
        events.removeAll()
    }

    mutating func absorb(_ transition: LedgerTransition) {
        // Every change of an account comes with another event about its customer besides the new
        // state (the SQLite store sends the state from memory and rebuilds it from that event's row).
        #expect(transition.accountChanged == (transition.account != account))
        #expect(!transition.events.contains { if case .account = $0 { true } else { false } })
        if transition.accountChanged {
            #expect(!transition.events.isEmpty, "an account change with no other event")
            #expect(transition.account.versionedAt == now && transition.account.version == account.version + 1)
        }
        account = transition.account
        entries += transition.entries
        events += transition.allEvents
    }

    var blockEvents: [BlockEvent] {
        events.compactMap { if case .block(let event) = $0 { event } else { nil } }
    }

    var lowCreditAlerts: [LowCreditAlert] {
        events.compactMap { if case .lowCredit(let alert) = $0 { alert } else { nil } }
    }
}
