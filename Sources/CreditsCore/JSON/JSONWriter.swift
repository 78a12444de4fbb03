/// Builds a JSON object with fields in the order they are written (stable, readable output).
public struct JSONObjectWriter: Sendable {
    private var text = "{"
    private var empty = true

    public init() {}

    private mutating func key(_ name: String) {
        if !empty { text += "," }
        empty = false
        JSONObjectWriter.appendQuoted(name, to: &text)
        text += ":"
    }

    public mutating func string(_ name: String, _ value: String) {
        key(name)
        JSONObjectWriter.appendQuoted(value, to: &text)
    }

    public mutating func optionalString(_ name: String, _ value: String?) {
        if let value { string(name, value) }
    }

    public mutating func int(_ name: String, _ value: Int64) {
        key(name)
        text += String(value)
    }

    public mutating func bool(_ name: String, _ value: Bool) {
        key(name)
        text += value ? "true" : "false"
    }

    public mutating func object(_ name: String, _ value: JSONObjectWriter) {
        key(name)
        text += value.finished()
    }

    public mutating func stringArray(_ name: String, _ values: [String]) {
        key(name)
        text += "["
        for (offset, value) in values.enumerated() {
            if offset > 0 { text += "," }
            JSONObjectWriter.appendQuoted(value, to: &text)
        }
        text += "]"
    }

    public mutating func objectArray(_ name: String, _ values: [JSONObjectWriter]) {
        key(name)
        text += "["
        for (offset, value) in values.enumerated() {
            if offset > 0 { text += "," }
            text += value.finished()
        }
        text += "]"
    }

    public mutating func null(_ name: String) {
        key(name)
        text += "null"
    }

    /// The finished object's text.
    public func finished() -> String { text + "}" }

    static func appendQuoted(_ value: String, to text: inout String) {
        text += "\""
        var plainStart = value.utf8.startIndex
        let utf8 = value.utf8
        var index = plainStart
        while index != utf8.endIndex {
            let byte = utf8[index]
            let escape: String?
            switch byte {
            case UInt8(ascii: "\""): escape = "\\\""
            case UInt8(ascii: "\\"): escape = "\\\\"
            case 0x0A: escape = "\\n"
            case 0x0D: escape = "\\r"
            case 0x09: escape = "\\t"
            case 0..<0x20:
                let hex = String(byte, radix: 16)
                escape = "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: escape = nil
            }
            if let escape {
                text += String(value.utf8[plainStart..<index])!
                text += escape
                plainStart = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        text += String(value.utf8[plainStart..<utf8.endIndex])!
        text += "\""
    }
}
