/// Customers whose `credits.accounts` state waits to go out: a customer's state goes out
/// `accounts.publish_interval_ms` after its first change since it last went out, so a customer
/// changed by many batches in that time gets one message, with its newest state (read from the
/// store when sent; its `version` counts every change). States fall due one by one, so the
/// sending is spread out.
struct AccountStateBuffer {
    private struct Waiting {
        let customerID: String
        /// When its first change since it last went out arrived (monotonic nanoseconds).
        let since: UInt64
        /// The first outbox row of that change's batch: rows from here on are kept until it is out.
        let fromSeq: Int64
    }

    private var waiting: Set<String> = []
    /// Customers in the order their first change arrived: `order[head...]` are waiting.
    private var order: [Waiting] = []
    private var head = 0

    var isEmpty: Bool { head == order.count }

    /// The first outbox row the waiting states are rebuilt from (after a crash), if any wait.
    var heldFrom: Int64? { isEmpty ? nil : order[head].fromSeq }

    /// Adds a batch's changed customers; `fromSeq` is the batch's first outbox row.
    mutating func add(_ customerIDs: [String], fromSeq: Int64, at now: UInt64) {
        for customerID in customerIDs where waiting.insert(customerID).inserted {
            order.append(Waiting(customerID: customerID, since: now, fromSeq: fromSeq))
        }
    }

    /// The customers whose states have waited `intervalNanoseconds` (all of them with
    /// `everything`), in order. They stay until `removeDue(_:)`, so that nothing is lost when
    /// reading their states fails.
    func due(at now: UInt64, intervalNanoseconds: UInt64, everything: Bool = false) -> [String] {
        var end = head
        while end < order.count, everything || order[end].since + intervalNanoseconds <= now { end += 1 }
        return order[head..<end].map(\.customerID)
    }

    /// Forgets the first `count` waiting customers (those `due` returned, now handed over).
    mutating func removeDue(_ count: Int) {
        precondition(count <= order.count - head, "only waiting customers are removed")
        for item in order[head..<(head + count)] { waiting.remove(item.customerID) }
        head += count
        if head > 4096 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    mutating func clear() {
        waiting.removeAll(keepingCapacity: true)
        order.removeAll(keepingCapacity: true)
        head = 0
    }
}
