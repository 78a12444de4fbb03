import CreditsCore

/// A block state as both stores keep it in columns: a state code (0 active, 1 grace, 2
/// blocked), the grace deadline, and what depleted the credits (an entry id, or the id of the
/// `enable_credits` command that started a grace period at a balance ≤ 0).
public struct StoredBlockState: Equatable, Sendable {
    public var code: Int64 = 0
    public var blockAt: Int64?
    public var depletedBy: Int64?
    public var depletedByCommand: String?

    public init(_ state: BlockState) {
        var cause: BlockState.Depletion?
        switch state {
        case .active: break
        case .grace(let at, let depletion):
            code = 1
            blockAt = at.millisecondsSinceEpoch
            cause = depletion
        case .blocked(let depletion):
            code = 2
            cause = depletion
        }
        switch cause {
        case .entry(let entryID): depletedBy = entryID
        case .enabling(let commandID): depletedByCommand = commandID
        case nil: break
        }
    }

    public init(code: Int64, blockAt: Int64?, depletedBy: Int64?, depletedByCommand: String?) {
        self.code = code
        self.blockAt = blockAt
        self.depletedBy = depletedBy
        self.depletedByCommand = depletedByCommand
    }

    /// The block state these columns describe.
    public var state: BlockState {
        let cause: BlockState.Depletion = depletedByCommand.map { .enabling(commandID: $0) } ?? .entry(depletedBy ?? 0)
        switch code {
        case 1: return .grace(blockAt: Timestamp(millisecondsSinceEpoch: blockAt ?? 0), depletedBy: cause)
        case 2: return .blocked(depletedBy: cause)
        default: return .active
        }
    }
}
