/// A stable 64-bit FNV-1a hash, used to recognise a repeated idempotency key with other fields
/// and to index idempotency keys by integer. Stable across processes and platforms.
public struct Fingerprint: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    /// Adds a field; fields are separated so that ("ab","c") and ("a","bc") differ.
    public mutating func add(_ text: String) {
        for byte in text.utf8 { mix(byte) }
        mix(0x1F)
    }

    public mutating func add(_ number: Int64?) {
        add(number.map { String($0) } ?? "-")
    }

    private mutating func mix(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }

    /// The hash as a signed integer (SQLite stores signed 64-bit integers).
    public var signed: Int64 { Int64(bitPattern: value) }

    /// Hash of one string.
    public static func of(_ text: String) -> Int64 {
        var fingerprint = Fingerprint()
        fingerprint.add(text)
        return fingerprint.signed
    }
}
