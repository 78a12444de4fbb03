extension OutputEvent {
    /// The event as a message for its output topic, encoded as the contract's JSON.
    public var message: OutboundMessage {
        switch self {
        case .balanceChanged(let entry):
            OutboundMessage(topic: .balanceChanged, key: entry.customerID, value: entry.json)
        case .lowCredit(let alert):
            OutboundMessage(topic: .lowCredit, key: alert.customerID, value: alert.json)
        case .block(let event):
            OutboundMessage(topic: .blocks, key: event.customerID, value: event.json)
        case .commandResult(let result):
            OutboundMessage(topic: .commandResults, key: result.customerID, value: result.json)
        case .deadLetter(let letter):
            OutboundMessage(topic: .deadLetter, key: letter.key ?? "", value: letter.json)
        case .account(let state):
            OutboundMessage(topic: .accounts, key: state.account.customerID, value: state.json)
        case .anomaly(let anomaly):
            OutboundMessage(topic: .anomalies, key: anomaly.customerID, value: anomaly.json)
        case .callDecision(let decision):
            OutboundMessage(topic: .callGrants, key: decision.customerID, value: decision.json)
        case .topUpRequest(let request):
            OutboundMessage(topic: .topUpRequests, key: request.customerID, value: request.json)
        case .encoded(let message):
            message
        }
    }
}

/// Deterministic output event ids: customer, the entry (or command) and the event kind.
enum EventID {
    static func forEntry(_ customerID: String, _ entryID: Int64, _ kind: String) -> String {
        "\(customerID)/\(entryID)/\(kind)"
    }

    static func forCommand(_ customerID: String, _ commandID: String, _ kind: String) -> String {
        "\(customerID)/command:\(commandID)/\(kind)"
    }

    /// The `depleted` and `blocked` events of one grace episode.
    static func forDepletion(_ customerID: String, _ cause: BlockState.Depletion, _ kind: String) -> String {
        switch cause {
        case .entry(let entryID): forEntry(customerID, entryID, kind)
        case .enabling(let commandID): forCommand(customerID, commandID, kind)
        }
    }
}

extension LedgerEntry {
    /// The `credits.balance-changed` value.
    public var json: String {
        var w = JSONObjectWriter()
        w.string("event_id", EventID.forEntry(customerID, entryID, "balance-changed"))
        w.string("customer_id", customerID)
        w.int("entry_id", entryID)
        w.string("type", kind.rawValue)
        w.string("amount", amount)
        w.string("balance", balance)
        w.string("note", note)
        writeProvenance(into: &w)
        w.string("occurred_at", occurredAt)
        w.string("recorded_at", recordedAt)
        w.string("hash", hash.description)
        return w.finished()
    }

    /// Where the entry came from and what it is made of: `source`, `actor`, `reason`,
    /// `breakdown` and `warnings` (shared by the event and the HTTP history).
    public func writeProvenance(into w: inout JSONObjectWriter) {
        var source = JSONObjectWriter()
        source.string("kind", self.source.kind)
        source.string("id", self.source.id)
        w.object("source", source)
        w.optionalString("actor", actor)
        w.optionalString("reason", deductReason?.rawValue)
        w.optionalString("expires_at", expiresAt)
        if let breakdown {
            var parts = JSONObjectWriter()
            parts.string("call", breakdown.call)
            parts.string("ai", breakdown.ai)
            parts.string("tool_calls", breakdown.toolCalls)
            w.object("breakdown", parts)
            if !breakdown.warnings.isEmpty { w.stringArray("warnings", breakdown.warnings) }
        }
    }
}

extension LowCreditAlert {
    /// The `credits.low-credit` value.
    public var json: String {
        var w = JSONObjectWriter()
        w.string("event_id", eventID)
        w.string("customer_id", customerID)
        w.string("balance", balance)
        w.string("threshold", threshold)
        if let entryID { w.int("entry_id", entryID) }
        projection.write(into: &w)
        w.string("occurred_at", occurredAt)
        return w.finished()
    }
}

extension AccountProjection {
    /// `minutes_left?`, `burn_rate_per_hour`, `projected_depletion_at?`.
    public func write(into w: inout JSONObjectWriter) {
        if let minutesLeft { w.int("minutes_left", minutesLeft) }
        w.string("burn_rate_per_hour", burnRatePerHour)
        w.optionalString("projected_depletion_at", projectedDepletionAt)
    }
}

extension AccountState {
    /// The `credits.accounts` value.
    public var json: String {
        var w = JSONObjectWriter()
        w.string("customer_id", account.customerID)
        w.int("version", account.version)
        w.bool("credits_enabled", account.creditsEnabled)
        w.string("balance", account.balance)
        w.string("state", account.blockState.name)
        if case .grace(let blockAt, _) = account.blockState { w.string("block_at", blockAt) }
        w.int("last_entry_id", account.lastEntryID)
        w.optionalString("price_per_minute", account.settings.pricePerMinute)
        projection.write(into: &w)
        w.optionalString("low_credit_threshold", account.settings.lowCreditThreshold)
        w.string("held", account.held)
        w.string("available", account.available)
        w.int("live_calls", Int64(account.calls.live.count))
        if let expiry = account.grants.nextExpiry { w.object("next_expiry", expiry.jsonObject) }
        if account.lastEntryID > 0 { w.string("head_hash", account.headHash.description) }
        w.string("updated_at", updatedAt)
        return w.finished()
    }
}

extension UsageAnomaly {
    /// The `credits.anomalies` value.
    public var json: String {
        var w = JSONObjectWriter()
        w.string("event_id", eventID)
        w.string("customer_id", customerID)
        w.string("kind", "usage_spike")
        w.string("window_start", windowStart)
        w.string("window_end", windowEnd)
        w.string("used", used)
        w.string("baseline_per_hour", baselinePerHour)
        w.string("ratio", CreditAmount(micros: ratioHundredths.multipliedReportingOverflow(by: 10_000).partialValue).description)
        w.string("occurred_at", occurredAt)
        return w.finished()
    }
}

extension BlockEvent {
    /// The `credits.blocks` value.
    public var json: String {
        var w = JSONObjectWriter()
        w.string("event_id", eventID)
        w.string("customer_id", customerID)
        w.string("type", kind.rawValue)
        w.string("balance", balance)
        w.optionalString("previous_state", previousState)
        w.optionalString("block_at", blockAt)
        w.optionalString("reason", reason)
        w.string("occurred_at", occurredAt)
        return w.finished()
    }
}

extension CommandResult {
    /// The `credits.command-results` value.
    public var json: String {
        var w = JSONObjectWriter()
        w.string("command_id", commandID)
        w.string("customer_id", customerID)
        w.string("status", status.rawValue)
        w.optionalString("reason", reason?.rawValue)
        w.optionalString("message", message)
        w.optionalString("original_status", originalStatus?.rawValue)
        if let entryID { w.int("entry_id", entryID) }
        w.string("balance", balance)
        w.string("processed_at", processedAt)
        return w.finished()
    }
}

extension DeadLetter {
    /// The `credits.dead-letter` value.
    public var json: String {
        var w = JSONObjectWriter()
        w.string("source_topic", sourceTopic)
        w.int("partition", Int64(partition))
        w.int("offset", offset)
        if let key { w.string("key", key) }
        if let keyTruncatedFrom {
            w.bool("key_truncated", true)
            w.int("key_bytes", Int64(keyTruncatedFrom))
        }
        w.string("payload", payload)
        if let truncatedFrom {
            w.bool("payload_truncated", true)
            w.int("payload_bytes", Int64(truncatedFrom))
        }
        var errorObject = JSONObjectWriter()
        errorObject.string("code", error.code.rawValue)
        errorObject.string("message", error.message)
        w.object("error", errorObject)
        w.string("at", at)
        return w.finished()
    }
}

extension CallDecision {
    /// The `credits.call-grants` value.
    public var json: String {
        var w = JSONObjectWriter()
        w.string("event_id", eventID)
        w.string("customer_id", customerID)
        w.string("call_id", callID)
        w.string("decision", kind.rawValue)
        w.optionalString("reason", reason?.rawValue)
        if let grantedSeconds { w.int("granted_seconds", grantedSeconds) }
        w.int("used_seconds", usedSeconds)
        w.string("held", held)
        w.string("available", available)
        w.optionalString("expires_at", expiresAt)
        w.string("occurred_at", occurredAt)
        return w.finished()
    }
}

extension NextExpiry {
    /// `{at, amount}`.
    public var jsonObject: JSONObjectWriter {
        var w = JSONObjectWriter()
        w.string("at", at)
        w.string("amount", amount)
        return w
    }
}

extension TopUpRequest {
    /// The `credits.top-up-requests` value.
    public var json: String {
        var w = JSONObjectWriter()
        w.string("event_id", eventID)
        w.string("request_id", requestID)
        w.string("customer_id", customerID)
        w.string("package", package)
        w.string("amount", amount)
        w.string("balance", balance)
        w.int("entry_id", entryID)
        w.string("occurred_at", occurredAt)
        return w.finished()
    }
}
