@testable import CreditsStore
import Testing

@Suite("In-memory index of idempotency keys")
struct IdempotencyIndexTests {
    @Test("colliding hashes keep every row; remove and rollback undo exactly what was added")
    func collisions() {
        var index = IdempotencyKeys.Index()
        index.insert(7, seq: 1, tracked: false)
        index.commit()
        index.insert(7, seq: 2)
        index.insert(9, seq: 3)
        #expect(index.seqs(for: 7) == [1, 2])
        #expect(index.count == 3)
        index.rollBack()
        #expect(index.seqs(for: 7) == [1])
        #expect(index.seqs(for: 9) == [])
        index.insert(7, seq: 4)
        index.remove(7, seq: 1)
        #expect(index.seqs(for: 7) == [4])
        index.commit()
        index.remove(7, seq: 4)
        #expect(index.seqs(for: 7) == [] && index.count == 0)
    }
}
