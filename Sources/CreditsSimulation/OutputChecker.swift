import CreditsCore
import CreditsService
import CreditsStore
import Foundation

/// Checks what the producers delivered, as a consumer that drops repeats by `event_id` sees it:
/// one content per `event_id`; each customer's balance changes first seen in entry order 1, 2,
/// 3 … without a gap; block events in an order the state machine allows (`blocked` only after
/// `depleted`); each call's decisions first seen in order 1, 2, 3 … without a gap, and no new
/// grant that leaves the customer's available credits below 0; each customer's entries chain by
/// their hashes and keep its grants (`GrantModel`) adding up to the balance, no entry drawing on
/// credits past their expiry and every expiry taking exactly what was left. At the end: every entry's event,
/// every dead letter, every command's result and a decision for every call delivered, and the
/// calls the decisions leave live are exactly the store's live calls (no hold lost or doubled).
struct OutputChecker {
    private let topics: ServiceConfiguration.Topics
    private var absorbed = 0
    private var contents: [String: String] = [:]
    private var nextEntry: [String: Int64] = [:]
    private var blockStates: [String: String] = [:]
    private var deadLetters = Set<String>()
    private var results = Set<String>()
    /// Per `customer/call_id`: the sequence and decision of the newest decision seen.
    private var callDecisions: [String: (sequence: Int64, decision: String, limited: Bool)] = [:]
    /// Per customer: the grants and hash chain the delivered entries imply.
    private var grants: [String: GrantModel] = [:]
    /// Expired entries seen (first copies).
    private(set) var expiredCount = 0
    private(set) var entryCount = 0
    /// Call decisions seen (first copies), and how many of them were expiries.
    private(set) var decisionCount = 0
    private(set) var expiryCount = 0
    var deadLetterCount: Int { deadLetters.count }

    init(topics: ServiceConfiguration.Topics) { self.topics = topics }

    /// Takes the messages delivered since the last call; returns the first broken rule.
    mutating func absorb(_ delivered: [SimulatedCluster.Delivered]) -> String? {
        while absorbed < delivered.count {
            let message = delivered[absorbed]
            absorbed += 1
            if let problem = take(message) { return problem }
        }
        return nil
    }

    private mutating func take(_ message: SimulatedCluster.Delivered) -> String? {
        guard message.topic != topics.accounts else { return nil }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(message.value.utf8))) as? [String: Any] else {
            return "\(message.topic): output is not a JSON object: \(message.value.prefix(200))"
        }
        if let eventID = object["event_id"] as? String {
            if let earlier = contents[eventID] {
                guard earlier == message.value else {
                    return "\(message.topic): event_id \(eventID) delivered with two contents:\n  \(earlier)\n  \(message.value)"
                }
                return nil  // a repeat: a consumer drops it
            }
            contents[eventID] = message.value
        }
        let customer = object["customer_id"] as? String ?? message.key
        switch message.topic {
        case topics.balanceChanged:
            let entry = (object["entry_id"] as? NSNumber)?.int64Value ?? -1
            let expected = nextEntry[customer] ?? 1
            guard entry == expected else {
                return
                    "\(customer): balance change of entry \(entry) seen first where entry \(expected) was due (out of order or lost)"
            }
            nextEntry[customer] = entry + 1
            entryCount += 1
            if object["type"] as? String == "expired" { expiredCount += 1 }
            if let problem = grants[customer, default: GrantModel()].take(object, customer: customer) { return problem }
        case topics.blocks:
            let type = object["type"] as? String ?? "?"
            let state = blockStates[customer] ?? "active"
            let next: String? =
                switch (state, type) {
                case ("active", "depleted"): "grace"
                case ("grace", "blocked"): "blocked"
                case ("grace", "unblocked"), ("blocked", "unblocked"): "active"
                default: nil
                }
            guard let next else { return "\(customer): block event \(type) while the customer was \(state)" }
            blockStates[customer] = next
        case topics.deadLetter:
            let topic = object["source_topic"] as? String ?? "?"
            let partition = (object["partition"] as? NSNumber)?.int64Value ?? -1
            let offset = (object["offset"] as? NSNumber)?.int64Value ?? -1
            deadLetters.insert("\(topic)/\(partition)/\(offset)")
        case topics.commandResults:
            results.insert("\(customer)/\(object["command_id"] as? String ?? "?")")
        case topics.callGrants:
            return takeDecision(object, customer: customer)
        default: break
        }
        return nil
    }

    private mutating func takeDecision(_ object: [String: Any], customer: String) -> String? {
        let call = "\(customer)/\(object["call_id"] as? String ?? "?")"
        let sequence =
            (object["sequence"] as? NSNumber)?.int64Value
            ?? Int64((object["event_id"] as? String)?.split(separator: "/").last ?? "") ?? -1
        let decision = object["decision"] as? String ?? "?"
        let expected = (callDecisions[call]?.sequence ?? 0) + 1
        guard sequence == expected else {
            return "\(call): decision \(sequence) seen first where decision \(expected) was due (out of order or lost)"
        }
        let limited = object["reason"] == nil
        if decision == "granted", limited, let available = object["available"] as? String, available.hasPrefix("-") {
            return "\(call): a grant left the customer \(available) available (held above the balance)"
        }
        if let held = object["held"] as? String, held.hasPrefix("-") { return "\(call): a negative hold \(held)" }
        callDecisions[call] = (sequence, decision, limited)
        decisionCount += 1
        if decision == "expired" { expiryCount += 1 }
        return nil
    }

    /// What is missing once every input is applied and every output delivered.
    func finalProblems(expected: Expectations, reader: any LedgerReading) -> [String] {
        var problems: [String] = []
        for key in expected.deadLetters.subtracting(deadLetters).sorted() {
            problems.append("no dead letter for the bad input at \(key)")
        }
        for key in expected.commands.subtracting(results).sorted() { problems.append("no command result for \(key)") }
        for call in expected.calls.subtracting(callDecisions.keys).sorted() {
            problems.append("no decision for the call \(call)")
        }
        for customer in Set(expected.calls.map { String($0.split(separator: "/")[0]) }).sorted() {
            let decided = Set(
                callDecisions.filter {
                    $0.key.hasPrefix(customer + "/") && $0.value.limited && ["granted", "final"].contains($0.value.decision)
                }
                .map { String($0.key.dropFirst(customer.count + 1)) })
            let stored = (try? reader.snapshot { () throws(StoreError) in try reader.account(customer)?.calls.live.keys }) ?? nil
            let live = Set(stored ?? [String: LiveCall]().keys)
            if live != decided {
                problems.append(
                    "\(customer): live calls in the store \(live.sorted()), by the decisions delivered \(decided.sorted())")
            }
        }
        for customer in expected.entries.keys.sorted() {
            let last = (try? reader.snapshot { () throws(StoreError) in try reader.account(customer)?.lastEntryID }) ?? nil
            let delivered = (nextEntry[customer] ?? 1) - 1
            if let last, last != delivered {
                problems.append("\(customer): entries 1...\(last) stored, balance changes delivered for 1...\(delivered)")
            }
        }
        return problems
    }
}
