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
        guard let words = bytes.withUnsafeBytes({ ChainHash(bytes: $0)?.words }) else { return nil }
        self.words = words
    }

    /// The 32 bytes of a stored value; nil for another length.
    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 32 else { return nil }
        words = Self.words(bigEndian: bytes)
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
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Calls `body` with the 32 bytes, most significant first (no allocation).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: (words.0.bigEndian, words.1.bigEndian, words.2.bigEndian, words.3.bigEndian), body)
    }

    /// Appends the 64 hex digits.
    public func appendHex(to text: inout [UInt8]) {
        let start = text.count
        text.append(contentsOf: repeatElement(0, count: 64))
        text.withUnsafeMutableBufferPointer { buffer in
            var cursor = ByteCursor(buffer.baseAddress! + start)
            writeHex(to: &cursor)
        }
    }

    /// Writes the 64 hex digits.
    func writeHex(to cursor: inout ByteCursor) {
        cursor.appendHex(words.0)
        cursor.appendHex(words.1)
        cursor.appendHex(words.2)
        cursor.appendHex(words.3)
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
        withPreimage(of: entry, previous: previous) { Array($0) }
    }

    /// The entry's hash after `previous`.
    public static func of(_ entry: LedgerEntry, previous: ChainHash) -> ChainHash {
        withPreimage(of: entry, previous: previous) { preimage in
            var hasher = SHA256()
            hasher.update(bufferPointer: preimage)
            return ChainHash(digest: hasher.finalize())
        }
    }

    /// Writes the preimage into temporary memory (on the stack when it fits: the hash is taken
    /// for every entry made) and gives it to `body`.
    private static func withPreimage<R>(
        of entry: LedgerEntry, previous: ChainHash, _ body: (UnsafeRawBufferPointer) -> R
    ) -> R {
        let sourceKind = entry.source.kind
        let sourceID = entry.source.id
        // 64 hex digits; nine fields of at most 20 length digits and a colon; entry_id, the two
        // amounts and recorded_at at most 32 bytes each; the texts.
        let capacity =
            64 + 9 * 21 + 4 * 32 + entry.customerID.utf8.count + entry.kind.rawValue.utf8.count
            + sourceKind.utf8.count + sourceID.utf8.count + entry.note.utf8.count
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            var cursor = ByteCursor(buffer.baseAddress!)
            previous.writeHex(to: &cursor)
            cursor.appendField(entry.customerID)
            cursor.appendField { $0.appendDecimal(entry.entryID) }
            cursor.appendField(entry.kind.rawValue)
            cursor.appendField { entry.amount.write(to: &$0) }
            cursor.appendField { entry.balance.write(to: &$0) }
            cursor.appendField(sourceKind)
            cursor.appendField(sourceID)
            cursor.appendField(entry.note)
            cursor.appendField { entry.recordedAt.write(to: &$0) }
            return body(cursor.written)
        }
    }
}
