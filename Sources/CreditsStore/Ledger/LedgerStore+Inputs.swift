import CreditsCore

/// Applying one input inside a batch: idempotency, the ledger rules, and what they record.
extension LedgerStore {
    func apply(_ message: InboundMessage, work: inout BatchWork) throws(StoreError) {
        switch message.input {
        case .usage(let usage):
            try apply(usage, origin: message.origin, digest: message.digest, work: &work)
        case .call(let call):
            try apply(call, origin: message.origin, digest: message.digest, work: &work)
        case .command(let command):
            try apply(command, origin: message.origin, digest: message.digest, work: &work)
        case .invalid(let error, let identity):
            try deadLetter(message.origin, error, work: &work)
            if let identity {
                let balance = try account(identity.customerID)?.balance ?? .zero
                let reason: ReasonCode = error.code == .unauthorized ? .unauthorized : .invalidCommand
                let result = CommandResult(
                    commandID: identity.commandID, customerID: identity.customerID,
                    status: .rejected, reason: reason, message: error.message,
                    balance: balance, processedAt: work.now)
                try emit(.commandResult(result), work: &work)
            }
        }
    }

    private func apply(
        _ usage: UsageEvent, origin: MessageOrigin, digest: [UInt8],
        work: inout BatchWork
    ) throws(StoreError) {
        let customer = try customer(usage.customerID, work: &work)
        let keys = IdempotencyKeys(connection: connection)
        switch try keys.claim(
            customerNum: customer.num, kind: .usage, key: usage.eventID, digest: digest,
            legacyFingerprint: { usage.legacyFingerprint }, seq: sequences.key, at: work.now, index: &keyIndex,
            pending: &work.pending)
        {
        case .duplicate:
            work.report.countDuplicate(origin.topic)
        case .conflicting:
            try deadLetter(
                origin,
                InputError(
                    .conflictingDuplicate,
                    "event_id \"\(usage.eventID)\" was applied before with other fields"), work: &work)
        case .new(let seq):
            sequences.key += 1
            do {
                var transition = try ledger.apply(usage, to: customer.stored.account, at: work.now)
                if transition.entries.isEmpty { work.report.usageNotCharged += 1 }
                work.report.countApplied(origin.topic)
                try record(&transition, for: customer, work: &work)
            } catch let error as InputError {
                if let position = work.pending.pendingKeyIndex(seq) { work.pending.keys[position].released = true }
                keyIndex.recent.remove(
                    IdempotencyKeys.hash(customerNum: customer.num, kind: .usage, key: usage.eventID), seq: seq)
                try deadLetter(origin, error, work: &work)
            } catch let error as StoreError {
                throw error
            } catch {
                throw StoreError(code: -1, message: "\(error)", context: "applying usage \(usage.eventID)")
            }
        }
    }

    /// A call event, in the usage events' idempotency space; a repeat publishes the call's newest
    /// decision again.
    private func apply(_ call: CallEvent, origin: MessageOrigin, digest: [UInt8], work: inout BatchWork) throws(StoreError) {
        let customer = try customer(call.customerID, work: &work)
        let keys = IdempotencyKeys(connection: connection)
        switch try keys.claim(
            customerNum: customer.num, kind: .usage, key: call.eventID, digest: digest,
            legacyFingerprint: { call.legacyFingerprint }, seq: sequences.key, at: work.now, index: &keyIndex,
            pending: &work.pending)
        {
        case .duplicate:
            work.report.countDuplicate(origin.topic)
            if let decision = ledger.repeatedDecision(for: call, in: customer.account) { try emit(decision, work: &work) }
        case .conflicting:
            try deadLetter(
                origin,
                InputError(.conflictingDuplicate, "event_id \"\(call.eventID)\" was applied before with other fields"),
                work: &work)
        case .new:
            sequences.key += 1
            work.report.countApplied(origin.topic)
            var transition = ledger.apply(call, to: customer.stored.account, at: work.now)
            try record(&transition, for: customer, work: &work)
        }
    }

    private func apply(
        _ command: AdminCommand, origin: MessageOrigin, digest: [UInt8],
        work: inout BatchWork
    ) throws(StoreError) {
        let customer = try customer(command.customerID, work: &work)
        let keys = IdempotencyKeys(connection: connection)
        let claim = try keys.claim(
            customerNum: customer.num, kind: .command, key: command.commandID,
            digest: digest, legacyFingerprint: { command.legacyFingerprint }, seq: sequences.key, at: work.now, index: &keyIndex,
            pending: &work.pending)
        switch claim {
        case .duplicate(let status, let reason, let entryID):
            work.report.countDuplicate(origin.topic)
            try emit(
                .commandResult(
                    CommandResult(
                        commandID: command.commandID, customerID: command.customerID, status: .duplicate,
                        reason: reason.flatMap(ReasonCode.init(rawValue:)), entryID: entryID, balance: customer.account.balance,
                        originalStatus: status, processedAt: work.now)), work: &work)
        case .conflicting:
            let error = InputError(
                .conflictingDuplicate,
                "command_id \"\(command.commandID)\" was used before with other fields")
            try deadLetter(origin, error, work: &work)
            try emit(
                .commandResult(
                    CommandResult(
                        commandID: command.commandID, customerID: command.customerID, status: .rejected, reason: error.code,
                        message: error.message, balance: customer.account.balance, processedAt: work.now)), work: &work)
        case .new(let seq):
            sequences.key += 1
            var transition = ledger.apply(command, to: customer.stored.account, at: work.now)
            if let result = transition.commandResult, let position = work.pending.pendingKeyIndex(seq) {
                work.pending.keys[position].status = result.status
                work.pending.keys[position].reason = result.reason?.rawValue
                work.pending.keys[position].entryID = result.entryID
            }
            let result = transition.commandResult
            work.report.countApplied(origin.topic)
            if let reason = result?.reason { work.report.rejectedCommands[reason, default: 0] += 1 }
            try record(&transition, for: customer, work: &work)
        }
    }

    /// Queues what `transition` writes and moves its account into the cache (`transition.account`
    /// is left holding the account before it).
    func record(
        _ transition: inout LedgerTransition, for customer: CachedCustomer,
        work: inout BatchWork
    ) throws(StoreError) {
        // A transition's entries have consecutive ids and get consecutive seqs.
        let firstSeq = sequences.entry
        let firstEntryID = transition.entries.first?.entryID ?? 0
        for entry in transition.entries {
            let seq = sequences.entry
            sequences.entry += 1
            work.pending.entries.append(
                PendingWrites.Entry(
                    seq: seq, customerNum: customer.num,
                    previousSeq: customer.stored.lastEntrySeq, entry: entry))
            customer.stored.lastEntrySeq = seq
        }
        for event in transition.events {
            if case .balanceChanged(let entry) = event {
                let offset = entry.entryID - firstEntryID
                let entrySeq = offset >= 0 && offset < transition.entries.count ? firstSeq + offset : nil
                try emit(event, entrySeq: entrySeq, work: &work)
            } else {
                try emit(event, work: &work)
            }
        }
        work.report.entries += transition.entries.count
        if let audit = transition.audit { work.pending.audits.append((customer.num, audit)) }
        for change in GrantWrites<Int64>.kept(of: transition) { work.pending.grants.append((customer.num, change)) }
        if !transition.entries.isEmpty || transition.account != customer.stored.account {
            // Swapped, not copied: no reference of the account's is counted up and down again.
            swap(&customer.stored.account, &transition.account)
            let index: Int
            if let known = work.dirtyIndex[customer.num] {
                index = known
            } else {
                index = work.dirty.count
                work.dirtyIndex[customer.num] = index
                work.dirty.append(ChangedCustomer(customer: customer))
            }
            // The account state is coalesced per batch (see ChangedCustomer); every event of a
            // transition is about its customer.
            work.dirty[index].accountChanged = work.dirty[index].accountChanged || transition.accountChanged
            work.dirty[index].hasRows = work.dirty[index].hasRows || !transition.events.isEmpty
        }
    }

    private func deadLetter(_ origin: MessageOrigin, _ error: InputError, work: inout BatchWork) throws(StoreError) {
        work.report.countDeadLetter(origin.topic, error.code)
        let letter = DeadLetter(
            sourceTopic: origin.topic, partition: origin.partition, offset: origin.offset,
            key: origin.key, payload: origin.payload,
            error: error, at: work.now)
        try emit(.deadLetter(letter), work: &work)
    }

    func emit(_ event: OutputEvent, entrySeq: Int64? = nil, work: inout BatchWork) throws(StoreError) {
        work.report.count(event)
        let seq = sequences.outbox
        sequences.outbox += 1
        work.pending.outbox.append(PendingWrites.OutboxRow(seq: seq, event: event, entrySeq: entrySeq))
        work.outbox.append(OutboxRecord(seq: seq, event: event))
        work.report.outboxMessages += 1
    }
}
