import CreditsCore

/// Account states waiting to go to `credits.accounts`, newest per customer: a customer's state
/// goes out `accounts.publish_interval_ms` after its first change since it last went out, so a
/// customer changed by many batches in that time gets one message, with its newest state (its
/// `version` counts every change). States fall due one by one, so the sending is spread out.
struct AccountStateBuffer {
    private struct Waiting {
        let customerID: String
        /// When its first change since it last went out arrived (monotonic nanoseconds).
        let since: UInt64
        /// The first outbox row of that change's batch: rows from here on are kept until it is out.
        let fromSeq: Int64
    }

    private var states: [String: AccountState] = [:]
    /// Customers in the order their first change arrived: `order[head...]` are waiting.
    private var order: [Waiting] = []
    private var head = 0

    var isEmpty: Bool { head == order.count }

    /// The first outbox row the waiting states are rebuilt from (after a crash), if any wait.
    var heldFrom: Int64? { isEmpty ? nil : order[head].fromSeq }

    /// Adds a batch's states; `fromSeq` is the batch's first outbox row.
    mutating func add(_ newStates: [AccountState], fromSeq: Int64, at now: UInt64) {
        for state in newStates {
            let customerID = state.account.customerID
            if states.updateValue(state, forKey: customerID) == nil {
                order.append(Waiting(customerID: customerID, since: now, fromSeq: fromSeq))
            }
        }
    }

    /// The states that have waited `intervalNanoseconds` (all of them with `everything`), in
    /// order; they leave the buffer.
    mutating func takeDue(at now: UInt64, intervalNanoseconds: UInt64, everything: Bool = false) -> [AccountState] {
        var due: [AccountState] = []
        while head < order.count, everything || order[head].since + intervalNanoseconds <= now {
            if let state = states.removeValue(forKey: order[head].customerID) { due.append(state) }
            head += 1
        }
        if head > 4096 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
        return due
    }

    mutating func clear() {
        states.removeAll(keepingCapacity: true)
        order.removeAll(keepingCapacity: true)
        head = 0
    }
}
