/// Writes bytes into memory already reserved for them, with no capacity or uniqueness check per
/// byte: for the text made for every entry (its hash preimage, amounts, times).
struct ByteCursor {
    private let base: UnsafeMutablePointer<UInt8>
    /// Bytes written so far.
    private(set) var count = 0

    /// A cursor at `base`; the caller guarantees room for everything written.
    init(_ base: UnsafeMutablePointer<UInt8>) { self.base = base }

    /// What was written.
    var written: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    mutating func append(_ byte: UInt8) {
        base[count] = byte
        count += 1
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        UnsafeMutableRawPointer(base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    mutating func append(utf8 text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// The decimal digits of `value`.
    mutating func appendDecimal(_ value: UInt64) {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        appendDigits(value, width: digits)
    }

    /// The last `width` decimal digits of `value`, with leading zeros.
    mutating func appendDigits(_ value: UInt64, width: Int) {
        var remaining = value
        var index = count + width - 1
        while index >= count {
            base[index] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: remaining % 10)
            remaining /= 10
            index -= 1
        }
        count += width
    }

    /// `-` when negative, then the decimal digits.
    mutating func appendDecimal(_ value: Int64) {
        if value < 0 { append(UInt8(ascii: "-")) }
        appendDecimal(value.magnitude)
    }

    /// The 16 lowercase hex digits of `word`, most significant first.
    mutating func appendHex(_ word: UInt64) {
        var index = count + 15
        var rest = word
        while index >= count {
            let nibble = UInt8(truncatingIfNeeded: rest & 0xF)
            base[index] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
            rest >>= 4
            index -= 1
        }
        count += 16
    }

    /// A length-prefixed field: the byte length in decimal, a colon, the bytes.
    mutating func appendField(_ bytes: UnsafeRawBufferPointer) {
        appendDecimal(UInt64(bytes.count))
        append(UInt8(ascii: ":"))
        append(bytes)
    }

    /// A length-prefixed field of a text's UTF-8.
    mutating func appendField(_ text: String) {
        var text = text
        text.withUTF8 { appendField(UnsafeRawBufferPointer($0)) }
    }

    /// A length-prefixed field of what `write` writes (at most 32 bytes).
    mutating func appendField(_ write: (inout ByteCursor) -> Void) {
        Self.onStack(writing: write, then: { appendField($0) })
    }

    /// Runs `write` on a cursor over 32 bytes of stack memory (the longest amount, time or
    /// integer text fits) and gives `use` what it wrote.
    static func onStack<R>(writing write: (inout ByteCursor) -> Void, then use: (UnsafeRawBufferPointer) -> R) -> R {
        var scratch: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &scratch) { raw in
            var cursor = ByteCursor(raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
            write(&cursor)
            return use(cursor.written)
        }
    }
}
