/// A call event from the call platform (`credits.usage` with a `type`): a call starts or ends.
public struct CallEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case started = "call_started"
        case ended = "call_ended"
    }

    /// The idempotency key, shared with usage events.
    public var eventID: String
    public var kind: Kind
    public var customerID: String
    public var callID: String
    public var occurredAt: Timestamp

    public init(eventID: String, kind: Kind, customerID: String, callID: String, occurredAt: Timestamp) {
        self.eventID = eventID
        self.kind = kind
        self.customerID = customerID
        self.callID = callID
        self.occurredAt = occurredAt
    }

    /// Validates a decoded JSON object that has a `type` against the contract.
    public init(json fields: [String: JSONValue]) throws(InputError) {
        let reader = FieldReader(fields, code: .invalidUsage)
        let type = try reader.string("type", length: 1...64)
        guard let kind = Kind(rawValue: type) else {
            let known = Kind.allCases.map(\.rawValue).joined(separator: ", ")
            throw reader.fail("type", "\"\(type.boundedForOutput(64))\" is not a call event type (\(known))")
        }
        self.kind = kind
        eventID = try reader.string("event_id", length: 1...200)
        customerID = try reader.string("customer_id", length: 1...128)
        guard Identifier.isValidCustomerID(customerID) else {
            throw reader.fail("customer_id", "must be 1-128 characters of [A-Za-z0-9._:@-]")
        }
        callID = try reader.string("call_id", length: 1...200)
        occurredAt = try reader.timestamp("occurred_at")
    }
}
