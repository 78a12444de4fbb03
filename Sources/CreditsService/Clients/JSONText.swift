import CreditsCore

/// Small helpers over JSON text for the CLI.
public enum JSONText {
    /// A top-level string field of a JSON object.
    public static func field(_ name: String, in json: String) -> String? {
        guard case .object(let fields) = try? JSONParser.parse(Array(json.utf8)) else { return nil }
        switch fields[name] {
        case .string(let text), .number(let text): return text
        default: return nil
        }
    }
}
