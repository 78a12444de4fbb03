/// A value written in JSON as a string whose text needs no escaping (digits, signs, `.`, `:`, …).
public protocol JSONPlainText {
    /// Appends the value's text as UTF-8.
    func appendText(to bytes: inout [UInt8])
}

extension CreditAmount: JSONPlainText {}
extension Timestamp: JSONPlainText {}

/// Builds a JSON object with fields in the order they are written (stable, readable output).
/// Writes UTF-8 bytes directly: output encoding is on the hot path of every entry.
public struct JSONObjectWriter: Sendable {
    private var bytes: [UInt8]
    private var empty = true

    public init() {
        bytes = []
        bytes.reserveCapacity(256)
        bytes.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ name: String) {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        Self.appendQuoted(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func string(_ name: String, _ value: String) {
        key(name)
        Self.appendQuoted(value, to: &bytes)
    }

    public mutating func optionalString(_ name: String, _ value: String?) {
        if let value { string(name, value) }
    }

    /// A value whose text needs no escaping (an amount, a time) as a JSON string, written
    /// straight into the buffer.
    public mutating func string(_ name: String, _ value: some JSONPlainText) {
        key(name)
        bytes.append(UInt8(ascii: "\""))
        value.appendText(to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func optionalString(_ name: String, _ value: (some JSONPlainText)?) {
        if let value { string(name, value) }
    }

    public mutating func int(_ name: String, _ value: Int64) {
        key(name)
        Self.appendDecimal(value, to: &bytes)
    }

    public mutating func bool(_ name: String, _ value: Bool) {
        key(name)
        bytes.append(contentsOf: value ? Self.trueBytes : Self.falseBytes)
    }

    public mutating func null(_ name: String) {
        key(name)
        bytes.append(contentsOf: Self.nullBytes)
    }

    public mutating func object(_ name: String, _ value: JSONObjectWriter) {
        key(name)
        bytes.append(contentsOf: value.bytes)
        bytes.append(UInt8(ascii: "}"))
    }

    public mutating func stringArray(_ name: String, _ values: [String]) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        for (offset, value) in values.enumerated() {
            if offset > 0 { bytes.append(UInt8(ascii: ",")) }
            Self.appendQuoted(value, to: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    public mutating func objectArray(_ name: String, _ values: [JSONObjectWriter]) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        for (offset, value) in values.enumerated() {
            if offset > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: value.bytes)
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// The finished object's text.
    public func finished() -> String {
        var result = bytes
        result.append(UInt8(ascii: "}"))
        return String(decoding: result, as: UTF8.self)
    }

    private static let trueBytes = Array("true".utf8)
    private static let falseBytes = Array("false".utf8)
    private static let nullBytes = Array("null".utf8)
    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func appendDecimal(_ value: Int64, to bytes: inout [UInt8]) {
        ByteCursor.onStack(writing: { $0.appendDecimal(value) }, then: { bytes.append(contentsOf: $0) })
    }

    static func appendQuoted(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            // Most strings (ids, amounts, notes) need no escape: one copy.
            if !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                bytes.append(contentsOf: utf8)
                return
            }
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\""):
                    bytes.append(UInt8(ascii: "\\"))
                    bytes.append(byte)
                case UInt8(ascii: "\\"):
                    bytes.append(UInt8(ascii: "\\"))
                    bytes.append(byte)
                case 0x0A:
                    bytes.append(UInt8(ascii: "\\"))
                    bytes.append(UInt8(ascii: "n"))
                case 0x0D:
                    bytes.append(UInt8(ascii: "\\"))
                    bytes.append(UInt8(ascii: "r"))
                case 0x09:
                    bytes.append(UInt8(ascii: "\\"))
                    bytes.append(UInt8(ascii: "t"))
                case 0..<0x20:
                    bytes.append(contentsOf: [
                        UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                        hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)],
                    ])
                default: bytes.append(byte)
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
