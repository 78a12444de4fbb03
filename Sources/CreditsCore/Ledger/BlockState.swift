/// Where a customer stands in active → grace → blocked → active.
public enum BlockState: Sendable, Equatable {
    case active
    /// Out of credits; blocked at `blockAt` unless topped up.
    case grace(blockAt: Timestamp, depletedBy: Depletion)
    case blocked(depletedBy: Depletion)

    /// What started a grace period; it names the `depleted` and `blocked` events, so each episode
    /// has event ids of its own.
    public enum Depletion: Sendable, Equatable {
        /// The entry (by entry id) that left the balance at or below 0.
        case entry(Int64)
        /// The `enable_credits` command (by command id) that found the balance at or below 0.
        case enabling(commandID: String)
    }

    /// The contract's state name.
    public var name: String {
        switch self {
        case .active: "active"
        case .grace: "grace"
        case .blocked: "blocked"
        }
    }
}
