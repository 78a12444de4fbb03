/// The fingerprints of the first versions: 64-bit FNV-1a over fields joined with 0x1F, which
/// texts containing 0x1F can make collide. Kept only to compare a repeat with an idempotency key
/// recorded before the store kept SHA-256 digests of `CanonicalForm` (migration 003).
extension UsageEvent {
    /// The 64-bit fingerprint that stores before migration 003 kept for an `event_id`.
    public var legacyFingerprint: Int64 {
        var hash = Fingerprint()
        hash.add(eventID)
        hash.add(customerID)
        hash.add(callID ?? "-")
        hash.add(callSeconds)
        hash.add(aiCosts?.llm?.nanos)
        hash.add(aiCosts?.stt?.nanos)
        hash.add(aiCosts?.tts?.nanos)
        hash.add(toolCalls)
        return hash.signed
    }
}

extension AdminCommand {
    /// The 64-bit fingerprint that stores before migration 003 kept for a `command_id`.
    public var legacyFingerprint: Int64 {
        var hash = Fingerprint()
        hash.add(commandID)
        hash.add(customerID)
        hash.add(actor)
        switch action {
        case .enableCredits(let change): hash.add("enable:" + (change?.canonical ?? "-"))
        case .disableCredits: hash.add("disable")
        case .configure(let change): hash.add("configure:" + change.canonical)
        case .addCredits(let amount, let note, _):
            hash.add("add:\(amount)")
            hash.add(note)
        case .quickBuy(.package(let name), let ref, _):
            hash.add("quick_buy:package:" + name)
            hash.add(ref)
        case .quickBuy(.amount(let amount), let ref, _):
            hash.add("quick_buy:amount:\(amount)")
            hash.add(ref)
        case .deductCredits(let amount, let reason, let note, let allowNegative):
            hash.add("deduct:\(amount):\(reason.rawValue):\(allowNegative)")
            hash.add(note)
        }
        return hash.signed
    }
}

extension CallEvent {
    /// Call events came after migration 003, so no stored key was made from one; this only has
    /// to differ from a usage event's fingerprint with the same `event_id`.
    public var legacyFingerprint: Int64 {
        var hash = Fingerprint()
        hash.add("call:" + kind.rawValue)
        hash.add(eventID)
        hash.add(customerID)
        hash.add(callID)
        return hash.signed
    }
}
