/// The stored form of a customer's calls: a small JSON document in the customer's row (nil
/// when the customer has none), read back exactly.
extension CallBook {
    /// The stored text; nil for an empty book.
    public var encoded: String? {
        guard !isEmpty else { return nil }
        var w = JSONObjectWriter()
        w.objectArray("live", liveInOrder.map(Self.write))
        w.objectArray("recent", recent.map(Self.write))
        return w.finished()
    }

    /// Reads `encoded` back for `customerID`; an empty book for nil. A text this code did not
    /// write (a damaged row) reads as an empty book rather than stopping the ledger.
    public init(encoded: String?, customerID: String) {
        self.init()
        guard let encoded, case .object(let root)? = try? JSONParser.parse(Array(encoded.utf8)) else { return }
        let live = Self.objects(root["live"]).compactMap { Self.call($0, customerID) }
        let recent = Self.objects(root["recent"]).compactMap { Self.decision($0, customerID) }
        self.init(live: live, recent: recent)
    }

    private static func write(_ call: LiveCall) -> JSONObjectWriter {
        var w = JSONObjectWriter()
        w.string("call_id", call.callID)
        w.int("held", call.held.micros)
        w.int("used_seconds", call.usedSeconds)
        w.int("granted_seconds", call.grantedSeconds)
        w.int("started_at", call.startedAt.millisecondsSinceEpoch)
        w.int("expires_at", call.expiresAt.millisecondsSinceEpoch)
        w.bool("final_sent", call.finalSent)
        w.object("decision", write(call.lastDecision))
        return w
    }

    private static func write(_ decision: CallDecision) -> JSONObjectWriter {
        var w = JSONObjectWriter()
        w.string("call_id", decision.callID)
        w.int("sequence", decision.sequence)
        w.string("kind", decision.kind.rawValue)
        w.optionalString("reason", decision.reason?.rawValue)
        if let granted = decision.grantedSeconds { w.int("granted_seconds", granted) }
        w.int("used_seconds", decision.usedSeconds)
        w.int("held", decision.held.micros)
        w.int("available", decision.available.micros)
        if let expiresAt = decision.expiresAt { w.int("expires_at", expiresAt.millisecondsSinceEpoch) }
        w.int("occurred_at", decision.occurredAt.millisecondsSinceEpoch)
        return w
    }

    private static func objects(_ value: JSONValue?) -> [[String: JSONValue]] {
        guard case .array(let items)? = value else { return [] }
        return items.compactMap { if case .object(let object) = $0 { object } else { nil } }
    }

    private static func integer(_ value: JSONValue?) -> Int64? {
        if case .number(let text)? = value { Int64(text) } else { nil }
    }

    private static func text(_ value: JSONValue?) -> String? {
        if case .string(let text)? = value { text } else { nil }
    }

    private static func call(_ o: [String: JSONValue], _ customerID: String) -> LiveCall? {
        guard let callID = text(o["call_id"]), let held = integer(o["held"]), let used = integer(o["used_seconds"]),
            let granted = integer(o["granted_seconds"]), let started = integer(o["started_at"]),
            let expires = integer(o["expires_at"]), case .bool(let finalSent)? = o["final_sent"],
            case .object(let d)? = o["decision"], let decision = decision(d, customerID)
        else { return nil }
        return LiveCall(
            callID: callID, held: CreditAmount(micros: held), usedSeconds: used, grantedSeconds: granted,
            startedAt: Timestamp(millisecondsSinceEpoch: started), expiresAt: Timestamp(millisecondsSinceEpoch: expires),
            finalSent: finalSent, lastDecision: decision)
    }

    private static func decision(_ o: [String: JSONValue], _ customerID: String) -> CallDecision? {
        guard let callID = text(o["call_id"]), let sequence = integer(o["sequence"]),
            let kind = text(o["kind"]).flatMap(CallDecision.Kind.init(rawValue:)), let used = integer(o["used_seconds"]),
            let held = integer(o["held"]), let available = integer(o["available"]), let occurred = integer(o["occurred_at"])
        else { return nil }
        return CallDecision(
            customerID: customerID, callID: callID, sequence: sequence, kind: kind,
            reason: text(o["reason"]).flatMap(CallDecision.Reason.init(rawValue:)), grantedSeconds: integer(o["granted_seconds"]),
            usedSeconds: used, held: CreditAmount(micros: held), available: CreditAmount(micros: available),
            expiresAt: integer(o["expires_at"]).map(Timestamp.init(millisecondsSinceEpoch:)),
            occurredAt: Timestamp(millisecondsSinceEpoch: occurred))
    }
}
