/// A usage event from the call platform (`credits.usage`).
public struct UsageEvent: Sendable, Equatable {
    /// AI processing costs in US dollars, each optional.
    public struct AICosts: Sendable, Equatable {
        public var llm: USDAmount?
        public var stt: USDAmount?
        public var tts: USDAmount?

        public init(llm: USDAmount? = nil, stt: USDAmount? = nil, tts: USDAmount? = nil) {
            self.llm = llm
            self.stt = stt
            self.tts = tts
        }

        /// llm + stt + tts in nano-dollars.
        public var totalNanos: Int128 { (llm?.nanos ?? 0) + (stt?.nanos ?? 0) + (tts?.nanos ?? 0) }
    }

    /// The contract's bounds, read by `init(json:)` and by the fast decoder alike.
    static let idLength: ClosedRange<Int> = 1...200
    static let callSecondsRange: ClosedRange<Int64> = 0...86_400
    static let toolCallsRange: ClosedRange<Int64> = 0...100_000

    public var eventID: String
    public var customerID: String
    public var occurredAt: Timestamp
    public var callID: String?
    public var callSeconds: Int64?
    public var aiCosts: AICosts?
    public var toolCalls: Int64?

    public init(
        eventID: String, customerID: String, occurredAt: Timestamp, callID: String? = nil,
        callSeconds: Int64? = nil, aiCosts: AICosts? = nil, toolCalls: Int64? = nil
    ) {
        self.eventID = eventID
        self.customerID = customerID
        self.occurredAt = occurredAt
        self.callID = callID
        self.callSeconds = callSeconds
        self.aiCosts = aiCosts
        self.toolCalls = toolCalls
    }

    /// Validates a decoded JSON object against the contract.
    public init(json fields: [String: JSONValue]) throws(InputError) {
        let reader = FieldReader(fields, code: .invalidUsage)
        eventID = try reader.string("event_id", length: Self.idLength)
        customerID = try reader.string("customer_id", length: 1...128)
        guard Identifier.isValidCustomerID(customerID) else {
            throw reader.fail("customer_id", "must be 1-128 characters of [A-Za-z0-9._:@-]")
        }
        occurredAt = try reader.timestamp("occurred_at")
        callID = try reader.optionalString("call_id", length: Self.idLength)
        callSeconds = try reader.optionalInteger("call_seconds", range: Self.callSecondsRange)
        toolCalls = try reader.optionalInteger("tool_calls", range: Self.toolCallsRange)
        if let costs = try reader.optionalObject("ai_costs_usd") {
            let parsed = AICosts(
                llm: try costs.optionalUSD("llm"), stt: try costs.optionalUSD("stt"),
                tts: try costs.optionalUSD("tts"))
            guard parsed.llm != nil || parsed.stt != nil || parsed.tts != nil else {
                throw reader.fail("ai_costs_usd", "must contain at least one of llm, stt, tts")
            }
            aiCosts = parsed
        }
        guard callSeconds != nil || aiCosts != nil || toolCalls != nil else {
            throw InputError(.invalidUsage, "at least one of call_seconds, ai_costs_usd, tool_calls is required")
        }
    }
}
