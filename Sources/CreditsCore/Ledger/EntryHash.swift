import Crypto

/// The verifiable history: every entry's `hash` is the SHA-256 of its customer's previous
/// entry's hash (64 zeros before entry 1, as lowercase hex text) followed by the entry's fields,
/// each written as its UTF-8 byte length in decimal, a colon, then its bytes: customer_id,
/// entry_id, type, amount, balance, source.kind, source.id, note, recorded_at — all as they
/// appear in `credits.balance-changed`. docs/contract.md has a worked example.
public enum EntryHash {
    /// The "previous hash" of a customer's first entry.
    public static let genesis = String(repeating: "0", count: 64)

    /// The bytes the hash is taken of (for documentation and independent checks).
    public static func preimage(of entry: LedgerEntry, previous: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(200 + entry.customerID.utf8.count + entry.note.utf8.count + entry.source.id.utf8.count)
        bytes.append(contentsOf: previous.utf8)
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

    /// The entry's hash after `previous` (lowercase hex).
    public static func of(_ entry: LedgerEntry, previous: String) -> String {
        hex(SHA256.hash(data: preimage(of: entry, previous: previous)))
    }

    private static let digits = Array("0123456789abcdef".utf8)

    static func hex(_ digest: SHA256.Digest) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
