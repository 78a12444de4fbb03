extension SeededGenerator {
    /// One random edit of `bytes` at a random place, for fuzz tests: a byte replaced by one from
    /// `values`, a byte removed, one of `pieces` inserted, or up to four bytes replaced by one of
    /// `pieces`. Never leaves `bytes` empty (`{` is left instead).
    public mutating func mutate(_ bytes: inout [UInt8], pieces: [[UInt8]], values: ClosedRange<UInt8> = 0...255) {
        let position = Int.random(in: 0..<bytes.count, using: &self)
        switch Int.random(in: 0..<4, using: &self) {
        case 0: bytes[position] = UInt8.random(in: values, using: &self)
        case 1: bytes.remove(at: position)
        case 2: bytes.insert(contentsOf: pieces.randomElement(using: &self)!, at: position)
        default:
            bytes.replaceSubrange(position..<min(bytes.count, position + 4), with: pieces.randomElement(using: &self)!)
        }
        if bytes.isEmpty { bytes = [0x7B] }
    }
}
