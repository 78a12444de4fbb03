/// A call the ledger holds credits for.
public struct LiveCall: Sendable, Equatable {
    public var callID: String
    /// The credits held for the rest of the call (never negative).
    public var held: CreditAmount
    /// Seconds of call reported by its usage so far.
    public var usedSeconds: Int64
    /// Seconds from the call's start it may run (used + what the hold covers), as last granted.
    public var grantedSeconds: Int64
    /// When the call was admitted (processing time).
    public var startedAt: Timestamp
    /// When the hold lapses without a call event or usage (processing time).
    public var expiresAt: Timestamp
    /// Whether a `final` went out since the last successful grant.
    public var finalSent: Bool
    /// The call's newest decision, published again for a repeated call event.
    public var lastDecision: CallDecision

    public init(
        callID: String, held: CreditAmount, usedSeconds: Int64, grantedSeconds: Int64, startedAt: Timestamp,
        expiresAt: Timestamp, finalSent: Bool, lastDecision: CallDecision
    ) {
        self.callID = callID
        self.held = held
        self.usedSeconds = usedSeconds
        self.grantedSeconds = grantedSeconds
        self.startedAt = startedAt
        self.expiresAt = expiresAt
        self.finalSent = finalSent
        self.lastDecision = lastDecision
    }
}

/// A customer's live calls, and the newest decisions of calls that are no longer (or never
/// were) live, so that a repeated call event gets its call's decision again.
public struct CallBook: Sendable, Equatable {
    /// Live calls by call_id.
    public private(set) var live: [String: LiveCall] = [:]
    /// The newest decision of each of the most recent calls not live (denied, released,
    /// expired, granted without a limit), oldest first, at most `recentLimit`.
    public private(set) var recent: [CallDecision] = []

    /// How many decisions of calls no longer live are kept for repeats.
    public static let recentLimit = 8

    public init(live: [LiveCall] = [], recent: [CallDecision] = []) {
        for call in live { self.live[call.callID] = call }
        self.recent = Array(recent.suffix(Self.recentLimit))
    }

    public var isEmpty: Bool { live.isEmpty && recent.isEmpty }

    /// The sum of the live calls' holds.
    public var held: CreditAmount { CreditAmount(micros: live.values.reduce(0) { $0 + $1.held.micros }) }

    /// The earliest expiry of a live call.
    public var nextExpiry: Timestamp? { live.values.map(\.expiresAt).min() }

    /// Live calls in start order (then by call_id), as listed and stored.
    public var liveInOrder: [LiveCall] {
        live.values.sorted { a, b in
            a.startedAt != b.startedAt ? a.startedAt < b.startedAt : a.callID.utf8.lexicographicallyPrecedes(b.callID.utf8)
        }
    }

    /// The call's newest decision, live or recent.
    public func latestDecision(of callID: String) -> CallDecision? {
        live[callID]?.lastDecision ?? recent.last { $0.callID == callID }
    }

    /// The number the call's next decision gets.
    func nextSequence(of callID: String) -> Int64 { (latestDecision(of: callID)?.sequence ?? 0) + 1 }

    mutating func update(_ call: LiveCall) { live[call.callID] = call }

    /// Ends a live call (or records a decision of a call that never was), keeping its decision.
    mutating func retire(_ callID: String, decision: CallDecision) {
        live[callID] = nil
        recent.removeAll { $0.callID == callID }
        recent.append(decision)
        if recent.count > Self.recentLimit { recent.removeFirst(recent.count - Self.recentLimit) }
    }
}
