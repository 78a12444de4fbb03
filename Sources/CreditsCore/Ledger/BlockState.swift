/// Where a customer stands in active → grace → blocked → active.
public enum BlockState: Sendable, Equatable {
    case active
    /// Out of credits; blocked at `blockAt` unless topped up. `depletedBy` is the entry that
    /// left the balance at or below 0 (it names the `depleted` and `blocked` events).
    case grace(blockAt: Timestamp, depletedBy: Int64)
    case blocked(depletedBy: Int64)

    /// The contract's state name.
    public var name: String {
        switch self {
        case .active: "active"
        case .grace: "grace"
        case .blocked: "blocked"
        }
    }
}
