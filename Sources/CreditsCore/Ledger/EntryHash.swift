import Crypto

/// A SHA-256 value of the verifiable history, held inline (no allocation, nothing to count
/// references of); its text is lowercase hex.
public struct ChainHash: Hashable, Sendable, CustomStringConvertible {
    private var words: (UInt64, UInt64, UInt64, UInt64)

    /// The "previous hash" of a customer's first entry: 64 zeros as text.
    public static let genesis = ChainHash(words: (0, 0, 0, 0))

    private init(words: (UInt64, UInt64, UInt64, UInt64)) { self.words = words }

    /// The 32 bytes of a stored value; nil for another length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        words = bytes.withUnsafeBytes(Self.words(bigEndian:))
    }

    /// A SHA-256 digest's 32 bytes.
    public init(digest: SHA256.Digest) {
        words = digest.withUnsafeBytes(Self.words(bigEndian:))
    }

    /// Four words from 32 bytes, most significant first.
    private static func words(bigEndian raw: UnsafeRawBufferPointer) -> (UInt64, UInt64, UInt64, UInt64) {
        func word(_ index: Int) -> UInt64 { UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) }
        return (word(0), word(1), word(2), word(3))
    }

    /// From its 64 lowercase hex digits; nil for anything else.
    public init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for index in stride(from: 0, to: 64, by: 2) {
            guard let high = Self.value(of: digits[index]), let low = Self.value(of: digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self.init(bytes: bytes)
    }

    /// The 32 bytes, most significant first.
    public var bytes: [UInt8] {
        withUnsafeBytes(of: (words.0.bigEndian, words.1.bigEndian, words.2.bigEndian, words.3.bigEndian)) { Array($0) }
    }

    /// Appends the 64 hex digits.
    public func appendHex(to text: inout [UInt8]) {
        Self.appendHex(words.0, to: &text)
        Self.appendHex(words.1, to: &text)
        Self.appendHex(words.2, to: &text)
        Self.appendHex(words.3, to: &text)
    }

    private static func appendHex(_ word: UInt64, to text: inout [UInt8]) {
        for shift in stride(from: 60, through: 0, by: -4) {
            let nibble = UInt8(truncatingIfNeeded: word >> UInt64(shift) & 0xF)
            text.append(nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10)
        }
    }

    public var description: String {
        var text: [UInt8] = []
        text.reserveCapacity(64)
        appendHex(to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    public static func == (a: ChainHash, b: ChainHash) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }

    private static func value(of digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

/// The verifiable history: every entry's `hash` is the SHA-256 of its customer's previous
/// entry's hash (64 zeros before entry 1, as lowercase hex text) followed by the entry's fields,
/// each written as its UTF-8 byte length in decimal, a colon, then its bytes: customer_id,
/// entry_id, type, amount, balance, source.kind, source.id, note, recorded_at — all as they
/// appear in `credits.balance-changed`. docs/contract.md has a worked example.
public enum EntryHash {
    /// The "previous hash" of a customer's first entry.
    public static let genesis = ChainHash.genesis

    /// The bytes the hash is taken of (for documentation and independent checks).
    public static func preimage(of entry: LedgerEntry, previous: ChainHash) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(200 + entry.customerID.utf8.count + entry.note.utf8.count + entry.source.id.utf8.count)
        previous.appendHex(to: &bytes)
        // Written straight into the buffer (the hash is taken for every entry made).
        var scratch: [UInt8] = []
        scratch.reserveCapacity(32)
        func field(_ text: String) {
            JSONObjectWriter.appendDecimal(Int64(text.utf8.count), to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            bytes.append(contentsOf: text.utf8)
        }
        func field(_ write: (inout [UInt8]) -> Void) {
            scratch.removeAll(keepingCapacity: true)
            write(&scratch)
            JSONObjectWriter.appendDecimal(Int64(scratch.count), to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            bytes.append(contentsOf: scratch)
        }
        field(entry.customerID)
        field { JSONObjectWriter.appendDecimal(entry.entryID, to: &$0) }
        field(entry.kind.rawValue)
        field { entry.amount.appendText(to: &$0) }
        field { entry.balance.appendText(to: &$0) }
        field(entry.source.kind)
        field(entry.source.id)
        field(entry.note)
        field { entry.recordedAt.appendText(to: &$0) }
        return bytes
    }

    /// The entry's hash after `previous`.
    public static func of(_ entry: LedgerEntry, previous: ChainHash) -> ChainHash {
        ChainHash(digest: SHA256.hash(data: preimage(of: entry, previous: previous)))
    }
}
