/// The stored form of a customer's calls: a small JSON document in the customer's row (nil
/// when the customer has none), read back exactly. Written with every change of a customer
/// with calls, so its keys are one letter: l(ive) calls with c(all_id), h(eld), u(sed),
/// g(ranted), t (started), e(xpires), f(inal sent), d(ecision); r(ecent) decisions with c, s(equence),
/// k(ind), y (reason), g, u, h, a(vailable), e, o(ccurred).
extension CallBook {
    /// The stored text; nil for an empty book.
    public var encoded: String? {
        guard !isEmpty else { return nil }
        var w = JSONObjectWriter()
        w.objectArray("l", liveInOrder.map(Self.write))
        w.objectArray("r", recent.map(Self.write))
        return w.finished()
    }

    /// Reads `encoded` back for `customerID`; an empty book for nil. A text this code did not
    /// write (a damaged row) reads as an empty book rather than stopping the ledger.
    public init(encoded: String?, customerID: String) {
        self.init()
        guard let encoded, case .object(let root)? = try? JSONParser.parse(Array(encoded.utf8)) else { return }
        let live = Self.objects(root["l"]).compactMap { Self.call($0, customerID) }
        let recent = Self.objects(root["r"]).compactMap { Self.decision($0, customerID) }
        self.init(live: live, recent: recent)
    }

    private static func write(_ call: LiveCall) -> JSONObjectWriter {
        var w = JSONObjectWriter()
        w.string("c", call.callID)
        w.int("h", call.held.micros)
        w.int("u", call.usedSeconds)
        w.int("g", call.grantedSeconds)
        w.int("t", call.startedAt.millisecondsSinceEpoch)
        w.int("e", call.expiresAt.millisecondsSinceEpoch)
        w.bool("f", call.finalSent)
        w.object("d", write(call.lastDecision))
        return w
    }

    private static func write(_ decision: CallDecision) -> JSONObjectWriter {
        var w = JSONObjectWriter()
        w.string("c", decision.callID)
        w.int("s", decision.sequence)
        w.string("k", decision.kind.rawValue)
        w.optionalString("y", decision.reason?.rawValue)
        if let granted = decision.grantedSeconds { w.int("g", granted) }
        w.int("u", decision.usedSeconds)
        w.int("h", decision.held.micros)
        w.int("a", decision.available.micros)
        if let expiresAt = decision.expiresAt { w.int("e", expiresAt.millisecondsSinceEpoch) }
        w.int("o", decision.occurredAt.millisecondsSinceEpoch)
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
        guard let callID = text(o["c"]), let held = integer(o["h"]), let used = integer(o["u"]),
            let granted = integer(o["g"]), let started = integer(o["t"]),
            let expires = integer(o["e"]), case .bool(let finalSent)? = o["f"],
            case .object(let d)? = o["d"], let decision = decision(d, customerID)
        else { return nil }
        return LiveCall(
            callID: callID, held: CreditAmount(micros: held), usedSeconds: used, grantedSeconds: granted,
            startedAt: Timestamp(millisecondsSinceEpoch: started), expiresAt: Timestamp(millisecondsSinceEpoch: expires),
            finalSent: finalSent, lastDecision: decision)
    }

    private static func decision(_ o: [String: JSONValue], _ customerID: String) -> CallDecision? {
        guard let callID = text(o["c"]), let sequence = integer(o["s"]),
            let kind = text(o["k"]).flatMap(CallDecision.Kind.init(rawValue:)), let used = integer(o["u"]),
            let held = integer(o["h"]), let available = integer(o["a"]), let occurred = integer(o["o"])
        else { return nil }
        return CallDecision(
            customerID: customerID, callID: callID, sequence: sequence, kind: kind,
            reason: text(o["y"]).flatMap(CallDecision.Reason.init(rawValue:)), grantedSeconds: integer(o["g"]),
            usedSeconds: used, held: CreditAmount(micros: held), available: CreditAmount(micros: available),
            expiresAt: integer(o["e"]).map(Timestamp.init(millisecondsSinceEpoch:)),
            occurredAt: Timestamp(millisecondsSinceEpoch: occurred))
    }
}
