/// A stable 64-bit FNV-1a hash, used to index idempotency keys by integer (the store resolves
/// collisions by the full key) and for the fingerprints of the first versions. Not
/// collision-resistant: what decides whether a repeat is the same input is `CanonicalForm`.
public struct Fingerprint: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    /// Adds a field; fields are separated so that ("ab","c") and ("a","bc") differ.
    public mutating func add(_ text: String) {
        for byte in text.utf8 { mix(byte) }
        mix(0x1F)
    }

    public mutating func add(_ number: Int64?) {
        guard let number else {
            mix(0x2D)
            mix(0x1F)
            return
        }
        var bits = UInt64(bitPattern: number)
        for _ in 0..<8 {
            mix(UInt8(truncatingIfNeeded: bits))
            bits >>= 8
        }
        mix(0x1F)
    }

    /// Adds an amount of nano-dollars (or nil).
    public mutating func add(_ number: Int128?) {
        guard let number else {
            add(nil as Int64?)
            return
        }
        add(Int64(truncatingIfNeeded: number >> 64))
        add(Int64(truncatingIfNeeded: number))
    }

    private mutating func mix(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }

    /// The hash as a signed integer (SQLite stores signed 64-bit integers).
    public var signed: Int64 { Int64(bitPattern: value) }

    /// SplitMix64's finaliser: spreads FNV's weaker low bits over the whole word, for a hash
    /// whose bits pick a place (a filter's bit, a part of a batch).
    public static func spread(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// Hash of one string.
    public static func of(_ text: String) -> Int64 {
        var fingerprint = Fingerprint()
        fingerprint.add(text)
        return fingerprint.signed
    }
}
