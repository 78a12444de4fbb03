import CreditsCore

/// What a batch's grant changes write, the same on both stores: the newest state of each grant
/// (new when any of its changes made it), split into rows to upsert and rows to delete. A
/// customer's first grant in draw-down order is not written unless the batch made it: its
/// remaining is what the balance leaves (`GrantBook.init(stored:balance:)`).
public struct GrantWrites<Customer: Hashable> {
    public struct Row {
        public var customer: Customer
        public var grant: Grant
    }

    public private(set) var upserts: [Row] = []
    public private(set) var deletes: [Row] = []

    /// `changes` in batch order; `first` gives each customer's first grant after the batch.
    public init(_ changes: [(customer: Customer, change: GrantChange)], first: (Customer) -> Int64?) {
        var newest: [GrantChange] = []
        var customers: [Customer] = []
        var position: [Key: Int] = [:]
        for (customer, change) in changes {
            let key = Key(customer: customer, entryID: change.grant.entryID)
            if let index = position[key] {
                newest[index] = GrantChange(grant: change.grant, isNew: change.isNew || newest[index].isNew)
            } else {
                position[key] = newest.count
                newest.append(change)
                customers.append(customer)
            }
        }
        for (customer, change) in zip(customers, newest) {
            let row = Row(customer: customer, grant: change.grant)
            if change.grant.remaining.micros == 0 {
                deletes.append(row)
            } else if change.isNew || first(customer) != change.grant.entryID {
                upserts.append(row)
            }
        }
    }

    /// The grant changes of `transition` a batch must keep: all but a draw that leaves the grant
    /// first in draw-down order after the transition with credits left, whose row the batch
    /// would skip anyway unless a later change moves the grant out of first place — and such a
    /// change (a grant added before it, its exhaustion or expiry, a draw while it is not first)
    /// records the grant again as it then is.
    public static func kept(of transition: LedgerTransition) -> [GrantChange] {
        let changes = transition.grantChanges
        guard let first = transition.account.grants.active.first?.entryID,
            changes.contains(where: { !$0.isNew && $0.grant.entryID == first && $0.grant.remaining.micros > 0 })
        else { return changes }
        return changes.filter { $0.isNew || $0.grant.entryID != first || $0.grant.remaining.micros == 0 }
    }

    private struct Key: Hashable {
        var customer: Customer
        var entryID: Int64
    }
}
