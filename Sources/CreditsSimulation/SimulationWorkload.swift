import CreditsCore
import CreditsService
import CreditsStore

/// The inputs of a run, made from its seed: every customer's enable_credits first, then usage,
/// credits added and deducted, exact repeats (a producer's retry), conflicting repeats and
/// messages that are not JSON, call starts and ends (with repeats) and usage of those calls, each
/// on its customer's partition. It records what the ledger must end with whatever the
/// interleaving: one entry per distinct usage event or command, with its amount, a dead letter
/// per bad message, and a decision for every call started.
struct SimulationWorkload {
    let customerIDs: [String]
    private let partitions: Int32
    private let topics: ServiceConfiguration.Topics
    private var random: SimulationRandom
    /// Customers whose enable_credits the store has applied.
    var enabled = Set<String>()
    private(set) var inputs = 0
    private(set) var expectations = Expectations()
    private var nextID = 0
    /// Usage events sent per customer (id and value), for repeats.
    private var sentUsage: [String: [(id: String, value: String)]] = [:]
    private var sentCommands: [String: [String]] = [:]
    /// Calls started per customer, and the call events sent (id and value), for repeats.
    private var calls: [String: [String]] = [:]
    private var sentCallEvents: [String: [(id: String, value: String)]] = [:]

    init(customers: Int, partitions: Int32, topics: ServiceConfiguration.Topics, seed: UInt64) {
        customerIDs = (0..<customers).map { "cus_\($0)" }
        self.partitions = partitions
        self.topics = topics
        random = SimulationRandom(seed: seed)
    }

    private func partition(of customer: String) -> Int32 {
        Int32(customerIDs.firstIndex(of: customer) ?? 0) % partitions
    }

    /// Each customer's enable_credits, with a grace period of 0 to 3 s, low-credit alerts at 5 and
    /// holds of 3 credits for 30 s of call (no price: usage costs its tool calls only).
    mutating func enableAll(_ cluster: SimulatedCluster) {
        for customer in customerIDs {
            let grace = random.int(0...3)
            command(
                cluster, customer, "enable_credits",
                #""settings":{"grace_period_seconds":\#(grace),"low_credit_threshold":"5","low_credit_alerts":true,"#
                    + #""call_hold_seconds":30,"call_hold_rate":"6"}"#,
                amount: nil)
        }
    }

    /// `count` inputs for random customers (usage only for those in `enabled`).
    mutating func produce(_ cluster: SimulatedCluster, count: Int, enabled: Set<String>) {
        for _ in 0..<count {
            let customer = customerIDs[random.int(0...(customerIDs.count - 1))]
            let roll = random.int(0..<100)
            switch roll {
            case 0..<43 where enabled.contains(customer): usage(cluster, customer, at: cluster.now)
            case 43..<55: callEvent(cluster, customer, enabled: enabled.contains(customer))
            case 55..<62 where !(sentUsage[customer] ?? []).isEmpty: repeatUsage(cluster, customer, conflicting: roll >= 60)
            case 62..<70:
                let credits = random.int(1...20)
                command(
                    cluster, customer, "add_credits", #""amount":"\#(credits)","note":"top-up""#,
                    amount: Int64(credits) * 1_000_000)
            case 70..<78:
                // Credits that expire 5-150 s of wall clock after they are sent: the wall clock's
                // jumps expire them while partitions move and instances crash. Applied later than
                // its expiry, the command is rejected (expires_at must lie ahead): no entry then.
                let credits = random.int(1...20)
                let expiry = Timestamp(millisecondsSinceEpoch: cluster.wallMilliseconds + Int64(random.int(5...150)) * 1_000)
                command(
                    cluster, customer, "add_credits", #""amount":"\#(credits)","note":"expiring","expires_at":"\#(expiry)""#,
                    amount: Int64(credits) * 1_000_000, mayBeRejected: true)
            case 78..<86:
                let credits = random.int(1...5)
                command(
                    cluster, customer, "deduct_credits",
                    #""amount":"\#(credits)","reason":"correction","note":"fix","allow_negative":true"#,
                    amount: -Int64(credits) * 1_000_000)
            case 86..<92 where !(sentCommands[customer] ?? []).isEmpty:
                let values = sentCommands[customer]!
                send(cluster, topics.commands, customer, values[random.int(0...(values.count - 1))])
            case 92..<95:
                let topic = random.chance(50) ? topics.usage : topics.commands
                let offset = send(cluster, topic, customer, "not json \(nextID)")
                nextID += 1
                expectations.deadLetters.insert("\(topic)/\(partition(of: customer))/\(offset)")
            default:
                if enabled.contains(customer) { usage(cluster, customer, at: cluster.now) }
            }
        }
    }

    /// A call starts (a new call_id), ends, repeats a call event exactly or with other fields
    /// (dead-lettered), or reports usage (charged like any usage; it shrinks a live hold).
    private mutating func callEvent(_ cluster: SimulatedCluster, _ customer: String, enabled: Bool) {
        let known = calls[customer] ?? []
        let sent = sentCallEvents[customer] ?? []
        switch random.int(0..<10) {
        case 0...3,
            _ where known.isEmpty:
            let call = "k-\(nextID)"
            nextID += 1
            calls[customer, default: []].append(call)
            expectations.calls.insert("\(customer)/\(call)")
            sendCall(cluster, customer, "call_started", call)
        case 4, 5: sendCall(cluster, customer, "call_ended", known[random.int(0...(known.count - 1))])
        case 6 where !sent.isEmpty: send(cluster, topics.usage, customer, sent[random.int(0...(sent.count - 1))].value)
        case 7 where !sent.isEmpty:
            let id = sent[random.int(0...(sent.count - 1))].id
            let offset = send(cluster, topics.usage, customer, callValue(id, customer, "call_started", "other-call"))
            expectations.deadLetters.insert("\(topics.usage)/\(partition(of: customer))/\(offset)")
        default:
            if enabled { usage(cluster, customer, at: cluster.now, call: known[random.int(0...(known.count - 1))]) }
        }
    }

    private mutating func sendCall(_ cluster: SimulatedCluster, _ customer: String, _ type: String, _ call: String) {
        let id = "e-\(nextID)"
        nextID += 1
        let value = callValue(id, customer, type, call)
        send(cluster, topics.usage, customer, value)
        sentCallEvents[customer, default: []].append((id, value))
    }

    private func callValue(_ id: String, _ customer: String, _ type: String, _ call: String) -> String {
        #"{"event_id":"\#(id)","type":"\#(type)","customer_id":"\#(customer)","call_id":"\#(call)","occurred_at":"2026-11-24T10:00:00Z"}"#
    }

    private mutating func usage(_ cluster: SimulatedCluster, _ customer: String, at now: UInt64, call: String? = nil) {
        let id = "u-\(nextID)"
        nextID += 1
        let toolCalls = random.int(1...60)
        let value = usageValue(id, customer, toolCalls: toolCalls, at: now, call: call)
        send(cluster, topics.usage, customer, value)
        sentUsage[customer, default: []].append((id, value))
        // The default tool-call price: 0.03 credits.
        expectations.entries[customer, default: [:]][id] = -Int64(toolCalls) * 30_000
    }

    private func usageValue(_ id: String, _ customer: String, toolCalls: Int, at now: UInt64, call: String? = nil) -> String {
        let occurred = Timestamp(millisecondsSinceEpoch: Simulation.startOfTime + Int64(now / 1_000_000))
        let callField = call.map { #""call_id":"\#($0)","call_seconds":\#(toolCalls),"# } ?? ""
        return
            #"{"event_id":"\#(id)","customer_id":"\#(customer)","occurred_at":"\#(occurred)",\#(callField)"tool_calls":\#(toolCalls)}"#
    }

    /// An exact repeat of an earlier usage event (no new entry), or one with the same id and other
    /// fields (dead-lettered as a conflicting duplicate).
    private mutating func repeatUsage(_ cluster: SimulatedCluster, _ customer: String, conflicting: Bool) {
        let earlier = sentUsage[customer]!
        let (id, value) = earlier[random.int(0...(earlier.count - 1))]
        guard conflicting else {
            send(cluster, topics.usage, customer, value)
            return
        }
        let offset = send(cluster, topics.usage, customer, usageValue(id, customer, toolCalls: 1_000, at: 0))
        expectations.deadLetters.insert("\(topics.usage)/\(partition(of: customer))/\(offset)")
    }

    private mutating func command(
        _ cluster: SimulatedCluster, _ customer: String, _ type: String, _ fields: String, amount: Int64?,
        mayBeRejected: Bool = false
    ) {
        let id = "c-\(nextID)"
        nextID += 1
        let value =
            #"{"command_id":"\#(id)","customer_id":"\#(customer)","issued_at":"2026-11-24T10:00:00Z","actor":"sim","type":"\#(type)",\#(fields)}"#
        send(cluster, topics.commands, customer, value)
        sentCommands[customer, default: []].append(value)
        expectations.commands.insert("\(customer)/\(id)")
        if let amount { expectations.entries[customer, default: [:]][id] = amount }
        if mayBeRejected { expectations.mayBeRejected.insert("\(customer)/\(id)") }
    }

    @discardableResult
    private mutating func send(_ cluster: SimulatedCluster, _ topic: String, _ customer: String, _ value: String) -> Int64 {
        inputs += 1
        return cluster.append(topic, partition: partition(of: customer), key: customer, value: value)
    }
}

/// What the ledger must hold at the end of a run, whatever the interleaving.
struct Expectations {
    /// Per customer: the source id (event_id or command_id) of each entry and its amount in micro-credits.
    var entries: [String: [String: Int64]] = [:]
    /// `topic/partition/offset` of every input that must be dead-lettered.
    var deadLetters = Set<String>()
    /// `customer/command_id` of every command, each of which gets a result.
    var commands = Set<String>()
    /// `customer/call_id` of every call started, each of which gets at least one decision.
    var calls = Set<String>()
    /// `customer/command_id` of commands a ledger rule may reject (credits added with an expiry
    /// that has passed by the time the command is applied): their entry may be missing.
    var mayBeRejected = Set<String>()

    /// Where the store's entries differ: a missing entry (an input lost), a second entry of one
    /// source (applied twice), a wrong amount, or an entry nobody asked for.
    func problems(reader: any LedgerReading) throws(StoreError) -> [String] {
        var problems: [String] = []
        for (customer, expected) in entries.sorted(by: { $0.key < $1.key }) {
            var found: [String: [Int64]] = [:]
            var cursor: HistoryCursor?
            repeat {
                let page = try reader.entries(customer, cursor: cursor, limit: 500, kind: nil)
                // Expiries are checked by the output checker's model of the grants.
                for entry in page.entries where entry.kind != .expired {
                    found[entry.source.id, default: []].append(entry.amount.micros)
                }
                cursor = page.next
            } while cursor != nil
            for (source, amount) in expected.sorted(by: { $0.key < $1.key }) {
                switch found[source] ?? [] {
                case [] where mayBeRejected.contains("\(customer)/\(source)"): break
                case []: problems.append("\(customer): no entry for \(source) (an input was lost)")
                case [amount]: break
                case let amounts where amounts.count > 1:
                    problems.append("\(customer): \(amounts.count) entries for \(source) (applied more than once)")
                case let amounts: problems.append("\(customer): \(source) has amount \(amounts[0]), expected \(amount)")
                }
            }
            for source in found.keys.sorted() where expected[source] == nil {
                problems.append("\(customer): an entry for \(source), which no input asked for")
            }
        }
        return problems
    }
}
