import CreditsCore

#if canImport(Glibc)
    import Glibc
#endif

/// A Bloom filter over 64-bit key hashes: "certainly never added" or "maybe added". It answers
/// the common question of the idempotency check — is this key new? — in memory, at about
/// 10 bits a key, so that only a possible repeat costs a lookup in the store.
///
/// It grows by layers: when the newest layer holds its capacity, a layer of twice the capacity
/// is added; a hash may be in any layer. Each layer is sized for `falsePositiveRate`, so the
/// overall rate stays below the rate times the number of layers (a handful).
struct KeyFilter {
    private struct Layer {
        var words: [UInt64]
        let bitCount: UInt64
        let probes: Int
        let capacity: Int
        var count = 0

        init(capacity: Int, falsePositiveRate: Double) {
            // m = -n ln p / (ln 2)^2 bits, k = (m / n) ln 2 probes.
            let bitsPerKey = -log(falsePositiveRate) / (0.6931471805599453 * 0.6931471805599453)
            let bits = max(UInt64(64), UInt64((Double(capacity) * bitsPerKey).rounded(.up)))
            words = [UInt64](repeating: 0, count: Int((bits + 63) / 64))
            bitCount = UInt64(words.count) * 64
            probes = max(1, Int((bitsPerKey * 0.6931471805599453).rounded()))
            self.capacity = capacity
        }

        mutating func insert(_ hash: Int64) {
            KeyFilter.forEachBit(of: hash, probes: probes, bitCount: bitCount) { word, mask in
                words[word] |= mask
                return true
            }
            count += 1
        }

        func mayContain(_ hash: Int64) -> Bool {
            KeyFilter.forEachBit(of: hash, probes: probes, bitCount: bitCount) { word, mask in words[word] & mask != 0 }
        }
    }

    private var layers: [Layer]
    let falsePositiveRate: Double

    /// A filter for about `expectedKeys` keys before its first growth.
    init(expectedKeys: Int, falsePositiveRate: Double = 0.01) {
        self.falsePositiveRate = falsePositiveRate
        layers = [Layer(capacity: max(expectedKeys, 1024), falsePositiveRate: falsePositiveRate)]
    }

    /// Hashes added (repeats counted again).
    var count: Int { layers.reduce(0) { $0 + $1.count } }

    /// Bytes of bit arrays held.
    var byteCount: Int { layers.reduce(0) { $0 + $1.words.count * 8 } }

    var layerCount: Int { layers.count }

    mutating func insert(_ hash: Int64) {
        if layers[layers.count - 1].count >= layers[layers.count - 1].capacity {
            layers.append(Layer(capacity: layers[layers.count - 1].capacity * 2, falsePositiveRate: falsePositiveRate))
        }
        layers[layers.count - 1].insert(hash)
    }

    /// False: `hash` was never inserted. True: it may have been.
    func mayContain(_ hash: Int64) -> Bool {
        layers.contains { $0.mayContain(hash) }
    }

    /// Calls `body` with the word index and bit mask of each of the hash's `probes` bits (double
    /// hashing of a mixed value, Kirsch–Mitzenmacher) until it returns false; returns whether it
    /// never did.
    @discardableResult
    private static func forEachBit(
        of hash: Int64, probes: Int, bitCount: UInt64,
        _ body: (Int, UInt64) -> Bool
    ) -> Bool {
        let mixed = Fingerprint.spread(UInt64(bitPattern: hash))
        let first = mixed
        let step = Fingerprint.spread(mixed) | 1
        for probe in 0..<UInt64(probes) {
            let bit = (first &+ probe &* step) % bitCount
            if !body(Int(bit >> 6), 1 << (bit & 63)) { return false }
        }
        return true
    }

}
