import CreditsCore

extension JSONValue {
    /// The text of a string or number, for comparing output fields in tests.
    public var text: String? {
        switch self {
        case .string(let text), .number(let text): text
        default: nil
        }
    }

    /// A field of an object (nil for anything else).
    public subscript(_ key: String) -> JSONValue? {
        if case .object(let fields) = self { return fields[key] }
        return nil
    }
}
