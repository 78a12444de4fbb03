/// Which input topic a message came from.
public enum InputKind: Sendable, Equatable {
    case usage
    case command
}

/// A decoded input message: a valid usage event or command, or the reason it cannot be applied.
public enum DecodedInput: Sendable, Equatable {
    case usage(UsageEvent)
    /// A call event (`credits.usage` with a `type`).
    case call(CallEvent)
    case command(AdminCommand)
    /// Not applicable. `commandIdentity` is set for a command whose `command_id` and
    /// `customer_id` could be read, so that it still gets a `rejected` result.
    case invalid(InputError, commandIdentity: CommandIdentity?)
}

/// The `command_id` and `customer_id` of a command.
public struct CommandIdentity: Sendable, Equatable {
    public var commandID: String
    public var customerID: String
}

/// Turns the bytes of an input message into a validated domain input.
public enum InputDecoder {
    /// Largest accepted payload: 64 KiB.
    public static let maximumPayloadBytes = 64 * 1024

    /// Decodes and validates one message; `key` is the message key, if it has one.
    public static func decode(_ kind: InputKind, key: String?, payload: [UInt8]) -> DecodedInput {
        guard payload.count <= maximumPayloadBytes else {
            return .invalid(
                InputError(.tooLarge, "payload is \(payload.count) bytes; the limit is \(maximumPayloadBytes)"),
                commandIdentity: nil)
        }
        if kind == .usage, let usage = UsageFastDecoder.decode(payload) {
            if let mismatch = keyMismatch(key: key, customerID: usage.customerID) {
                return .invalid(mismatch, commandIdentity: nil)
            }
            return .usage(usage)
        }
        let fields: [String: JSONValue]
        do {
            guard case .object(let object) = try JSONParser.parse(payload) else {
                return .invalid(InputError(.invalidJSON, "payload must be a JSON object"), commandIdentity: nil)
            }
            fields = object
        } catch {
            return .invalid(InputError(.invalidJSON, "payload is not valid JSON: \(error)"), commandIdentity: nil)
        }
        switch kind {
        case .usage:
            do {
                if fields["type"] != nil {
                    let call = try CallEvent(json: fields)
                    if let mismatch = keyMismatch(key: key, customerID: call.customerID) {
                        return .invalid(mismatch, commandIdentity: nil)
                    }
                    return .call(call)
                }
                let usage = try UsageEvent(json: fields)
                if let mismatch = keyMismatch(key: key, customerID: usage.customerID) {
                    return .invalid(mismatch, commandIdentity: nil)
                }
                return .usage(usage)
            } catch {
                return .invalid(error, commandIdentity: nil)
            }
        case .command:
            let identity = AdminCommand.identity(of: fields).map {
                CommandIdentity(commandID: $0.commandID, customerID: $0.customerID)
            }
            do {
                let command = try AdminCommand(json: fields)
                if let mismatch = keyMismatch(key: key, customerID: command.customerID) {
                    return .invalid(mismatch, commandIdentity: identity)
                }
                return .command(command)
            } catch {
                return .invalid(error, commandIdentity: identity)
            }
        }
    }

    private static func keyMismatch(key: String?, customerID: String) -> InputError? {
        guard let key, key != customerID else { return nil }
        let quoted = key.utf8.count > 200 ? "\(key.boundedForOutput(200))\" (\(key.utf8.count) bytes)" : "\(key)\""
        return InputError(.keyMismatch, "message key \"\(quoted) does not match customer_id \"\(customerID)\"")
    }
}

extension DecodedInput {
    /// The same input refused as a whole (e.g. for want of a valid signature): dead-lettered with
    /// `error`, answered `rejected` when its `command_id` and `customer_id` are known, and never
    /// remembered as an idempotency key.
    public func refused(_ error: InputError) -> DecodedInput {
        switch self {
        case .command(let command):
            .invalid(error, commandIdentity: CommandIdentity(commandID: command.commandID, customerID: command.customerID))
        case .invalid(_, let identity):
            .invalid(error, commandIdentity: identity)
        case .usage, .call:
            .invalid(error, commandIdentity: nil)
        }
    }
}
