import CreditsCore

/// Account states waiting to go to `credits.accounts`, newest per customer: the table is sent
/// at most every `accounts.publish_interval_ms`, so a customer changed by many batches in that
/// time gets one message, with its newest state (its `version` counts every change).
struct AccountStateBuffer {
    private var states: [String: AccountState] = [:]
    /// Customers in the order they first changed since the last hand-over.
    private var order: [String] = []
    /// When the oldest waiting state arrived (monotonic nanoseconds).
    private var since: UInt64?

    var isEmpty: Bool { order.isEmpty }

    mutating func add(_ newStates: [AccountState], at now: UInt64) {
        guard !newStates.isEmpty else { return }
        if since == nil { since = now }
        for state in newStates {
            let customerID = state.account.customerID
            if states.updateValue(state, forKey: customerID) == nil { order.append(customerID) }
        }
    }

    /// Whether the oldest waiting state has waited `intervalNanoseconds`.
    func isDue(at now: UInt64, intervalNanoseconds: UInt64) -> Bool {
        guard let since else { return false }
        return now >= since + intervalNanoseconds
    }

    /// The waiting states, in order, leaving the buffer empty.
    mutating func take() -> [AccountState] {
        defer { clear() }
        return order.compactMap { states[$0] }
    }

    mutating func clear() {
        states.removeAll(keepingCapacity: true)
        order.removeAll(keepingCapacity: true)
        since = nil
    }
}
