import CreditsCore

/// What a batch of inputs does to a set of customers, worked out in memory from their state and
/// the idempotency keys already stored (both read by the caller in a few queries), with no I/O.
/// A store that keeps several instances' state in one database (PostgreSQL) reads what the batch
/// needs, plans, and writes the plan's rows in the same transaction.
public struct BatchPlan {
    /// Which kind of input an idempotency key belongs to.
    public enum KeyKind: Int16, Sendable {
        case usage = 0
        case command = 1
    }

    /// An idempotency key of one customer. Keys are equal when their bytes are, as the stores
    /// compare them (Swift's `==` on strings would take "é" and "e" + U+0301 for one key, so that
    /// one batch and two batches of the same input would disagree).
    public struct KeyID: Hashable, Sendable {
        public var customerID: String
        public var kind: KeyKind
        public var key: String

        public init(customerID: String, kind: KeyKind, key: String) {
            self.customerID = customerID
            self.kind = kind
            self.key = key
        }

        public static func == (a: KeyID, b: KeyID) -> Bool {
            a.kind == b.kind && a.customerID.utf8.elementsEqual(b.customerID.utf8) && a.key.utf8.elementsEqual(b.key.utf8)
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(kind)
            Self.combine(customerID, into: &hasher)
            Self.combine(key, into: &hasher)
        }

        private static func combine(_ text: String, into hasher: inout Hasher) {
            hasher.combine(text.utf8.count)
            let done: Void? = text.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
            if done == nil { for byte in text.utf8 { hasher.combine(byte) } }
        }
    }

    /// A key as stored: the input's digest and its first outcome.
    public struct StoredKey: Sendable, Equatable {
        public var digest: [UInt8]
        public var status: CommandResult.Status
        public var reason: String?
        public var entryID: Int64?

        public init(digest: [UInt8], status: CommandResult.Status, reason: String?, entryID: Int64?) {
            self.digest = digest
            self.status = status
            self.reason = reason
            self.entryID = entryID
        }
    }

    /// A new key to write, with its outcome.
    public struct NewKey: Sendable, Equatable {
        public var id: KeyID
        public var stored: StoredKey
    }

    /// An output event and the input partition (number) whose owner publishes it.
    public struct Output: Sendable, Equatable {
        public var partition: Int32
        public var event: OutputEvent
    }

    public let ledger: Ledger
    public let now: Timestamp
    /// Customers as they stand (the caller loads every customer the batch names; absent: new).
    public private(set) var customers: [String: CustomerAccount]
    /// The input partition each changed customer was last touched from.
    public private(set) var partitions: [String: Int32] = [:]
    /// Customers whose state changed, in first-change order.
    public private(set) var changed: [String] = []
    private var changedSet = Set<String>()
    public private(set) var entries: [LedgerEntry] = []
    /// What the batch's applied commands changed, for the audit trail.
    public private(set) var audits: [AuditRecord] = []
    /// The grants the batch's entries made or drew from, as they are afterwards, in order (a
    /// grant may appear more than once; its last state counts: `GrantWrites`).
    public private(set) var grantChanges: [(customer: String, change: GrantChange)] = []
    public private(set) var newKeys: [NewKey] = []
    public private(set) var outputs: [Output] = []
    public private(set) var report = BatchReport()
    /// Keys stored before this batch, and those this batch adds (by position in `newKeys`).
    private var storedKeys: [KeyID: StoredKey]
    private var claimed: [KeyID: Int] = [:]
    /// Customers whose account changed (their version grew) and whose state is not settled yet,
    /// in first-change order, with the input partition of their last change.
    private var unsettledAccounts: [(customerID: String, partition: Int32)] = []
    private var unsettledIndex: [String: Int] = [:]
    /// Customers the plan wrote a row about (the events of their transitions).
    private var rowsAbout = Set<String>()
    /// Customers already in `report.changedAccounts`.
    private var namedAccounts = Set<String>()

    /// The keys a batch must look up before it is planned.
    public static func keys(of batch: [InboundMessage]) -> [KeyID] {
        batch.compactMap { message in
            switch message.input {
            case .usage(let usage): KeyID(customerID: usage.customerID, kind: .usage, key: usage.eventID)
            case .call(let call): KeyID(customerID: call.customerID, kind: .usage, key: call.eventID)
            case .command(let command): KeyID(customerID: command.customerID, kind: .command, key: command.commandID)
            case .invalid: nil
            }
        }
    }

    /// The customers a batch names (invalid inputs too, when a customer can be read from them).
    public static func customerIDs(of batch: [InboundMessage]) -> [String] {
        var seen = Set<String>()
        return batch.compactMap { message -> String? in
            guard let id = customerID(of: message), seen.insert(id).inserted else { return nil }
            return id
        }
    }

    /// The customer an input is about (an invalid one's too, when it can be read from it): every
    /// row and event the plan makes of the input is about that customer alone.
    public static func customerID(of message: InboundMessage) -> String? {
        switch message.input {
        case .usage(let usage): usage.customerID
        case .call(let call): call.customerID
        case .command(let command): command.customerID
        case .invalid(_, let identity): identity?.customerID
        }
    }

    public init(ledger: Ledger, now: Timestamp, customers: [String: CustomerAccount], storedKeys: [KeyID: StoredKey]) {
        self.ledger = ledger
        self.now = now
        self.customers = customers
        self.storedKeys = storedKeys
    }

    /// Plans the inputs in order.
    public mutating func apply(_ batch: [InboundMessage]) {
        for message in batch { apply(message) }
        settleAccountStates()
    }

    /// Does what is due by `now` for `customerIDs` (grace periods, call holds), owned through `partitions`.
    public mutating func fireDeadlines(_ customerIDs: [String], partitions: [String: Int32]) {
        for id in customerIDs {
            let transition = ledger.fireDeadlines(for: account(id), at: now)
            record(transition, partition: partitions[id] ?? 0)
        }
        report.deadlinesFired = customerIDs.count
        settleAccountStates()
    }

    /// The `credits.accounts` state of every account the plan changed: named in
    /// `report.changedAccounts` (no row: the state is read when it is sent, and rebuilt from the
    /// plan's other rows about its customer after a crash), or, for a customer the plan wrote no
    /// other row about, an output of its own after the other events.
    private mutating func settleAccountStates() {
        for (id, partition) in unsettledAccounts {
            guard let account = customers[id] else { continue }
            if rowsAbout.contains(id) {
                if namedAccounts.insert(id).inserted { report.changedAccounts.append(id) }
            } else {
                emit(.account(AccountState(newestOf: account, otherwise: now)), partition: partition)
            }
        }
        unsettledAccounts.removeAll()
        unsettledIndex.removeAll()
    }

    private func account(_ id: String) -> CustomerAccount { customers[id] ?? CustomerAccount.new(id) }

    private mutating func apply(_ message: InboundMessage) {
        let origin = message.origin
        switch message.input {
        case .usage(let usage):
            let id = KeyID(customerID: usage.customerID, kind: .usage, key: usage.eventID)
            switch lookUp(id, digest: message.digest) {
            case .some(.some):
                report.countDuplicate(origin.topic)
            case .some(.none):
                deadLetter(
                    origin,
                    InputError(
                        .conflictingDuplicate,
                        "event_id \"\(usage.eventID)\" was applied before with other fields"))
            case .none:
                do {
                    let transition = try ledger.apply(usage, to: account(usage.customerID), at: now)
                    claim(id, StoredKey(digest: message.digest, status: .applied, reason: nil, entryID: nil))
                    if transition.entries.isEmpty { report.usageNotCharged += 1 }
                    report.countApplied(origin.topic)
                    record(transition, partition: origin.partition)
                } catch {
                    deadLetter(origin, error)
                }
            }
        case .call(let call):
            let id = KeyID(customerID: call.customerID, kind: .usage, key: call.eventID)
            switch lookUp(id, digest: message.digest) {
            case .some(.some):
                report.countDuplicate(origin.topic)
                if let decision = ledger.repeatedDecision(for: call, in: account(call.customerID)) {
                    emit(decision, partition: origin.partition)
                    rowsAbout.insert(call.customerID)
                }
            case .some(.none):
                deadLetter(
                    origin,
                    InputError(.conflictingDuplicate, "event_id \"\(call.eventID)\" was applied before with other fields"))
            case .none:
                let transition = ledger.apply(call, to: account(call.customerID), at: now)
                claim(id, StoredKey(digest: message.digest, status: .applied, reason: nil, entryID: nil))
                report.countApplied(origin.topic)
                record(transition, partition: origin.partition)
            }
        case .command(let command):
            let id = KeyID(customerID: command.customerID, kind: .command, key: command.commandID)
            let balance = account(command.customerID).balance
            switch lookUp(id, digest: message.digest) {
            case .some(.some(let first)):
                report.countDuplicate(origin.topic)
                emit(
                    .commandResult(
                        CommandResult(
                            commandID: command.commandID, customerID: command.customerID, status: .duplicate,
                            reason: first.reason.flatMap(ReasonCode.init(rawValue:)), entryID: first.entryID, balance: balance,
                            originalStatus: first.status, processedAt: now)), partition: origin.partition)
            case .some(.none):
                let error = InputError(
                    .conflictingDuplicate, "command_id \"\(command.commandID)\" was used before with other fields")
                deadLetter(origin, error)
                emit(
                    .commandResult(
                        CommandResult(
                            commandID: command.commandID, customerID: command.customerID, status: .rejected, reason: error.code,
                            message: error.message, balance: balance, processedAt: now)), partition: origin.partition)
            case .none:
                let transition = ledger.apply(command, to: account(command.customerID), at: now)
                let result = transition.commandResult
                claim(
                    id,
                    StoredKey(
                        digest: message.digest, status: result?.status ?? .applied,
                        reason: result?.reason?.rawValue, entryID: result?.entryID))
                report.countApplied(origin.topic)
                if let reason = result?.reason { report.rejectedCommands[reason, default: 0] += 1 }
                record(transition, partition: origin.partition)
            }
        case .invalid(let error, let identity):
            deadLetter(origin, error)
            if let identity {
                let reason: ReasonCode = error.code == .unauthorized ? .unauthorized : .invalidCommand
                emit(
                    .commandResult(
                        CommandResult(
                            commandID: identity.commandID, customerID: identity.customerID, status: .rejected, reason: reason,
                            message: error.message, balance: customers[identity.customerID]?.balance ?? .zero,
                            processedAt: now)), partition: origin.partition)
            }
        }
    }

    /// nil: never seen. `.some(nil)`: seen with other fields. `.some(key)`: the same input before.
    private func lookUp(_ id: KeyID, digest: [UInt8]) -> StoredKey?? {
        let found = claimed[id].map { newKeys[$0].stored } ?? storedKeys[id]
        guard let found else { return nil }
        return .some(found.digest == digest ? found : nil)
    }

    private mutating func claim(_ id: KeyID, _ stored: StoredKey) {
        claimed[id] = newKeys.count
        newKeys.append(NewKey(id: id, stored: stored))
    }

    private mutating func record(_ transition: LedgerTransition, partition: Int32) {
        entries += transition.entries
        if let audit = transition.audit { audits.append(audit) }
        for change in GrantWrites<String>.kept(of: transition) { grantChanges.append((transition.account.customerID, change)) }
        for event in transition.events { emit(event, partition: partition) }
        report.entries += transition.entries.count
        let id = transition.account.customerID
        if !transition.events.isEmpty { rowsAbout.insert(id) }
        if transition.accountChanged {
            if let index = unsettledIndex[id] {
                unsettledAccounts[index].partition = partition
            } else {
                unsettledIndex[id] = unsettledAccounts.count
                unsettledAccounts.append((id, partition))
            }
        }
        if transition.account != customers[id] || !transition.entries.isEmpty {
            customers[id] = transition.account
            partitions[id] = partition
            if changedSet.insert(id).inserted { changed.append(id) }
        }
    }

    private mutating func deadLetter(_ origin: MessageOrigin, _ error: InputError) {
        report.countDeadLetter(origin.topic, error.code)
        emit(
            .deadLetter(
                DeadLetter(
                    sourceTopic: origin.topic, partition: origin.partition, offset: origin.offset,
                    key: origin.key, payload: origin.payload, error: error, at: now)),
            partition: origin.partition)
    }

    private mutating func emit(_ event: OutputEvent, partition: Int32) {
        report.count(event)
        outputs.append(Output(partition: partition, event: event))
        report.outboxMessages += 1
    }
}
