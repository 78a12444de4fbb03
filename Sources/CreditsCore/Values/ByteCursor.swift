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
        var remaining = value
        for index in stride(from: count + digits - 1, through: count, by: -1) {
            base[index] = UInt8(ascii: "0") + UInt8(remaining % 10)
            remaining /= 10
        }
        count += digits
    }

    /// `-` when negative, then the decimal digits.
    mutating func appendDecimal(_ value: Int64) {
        if value < 0 { append(UInt8(ascii: "-")) }
        appendDecimal(value.magnitude)
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
