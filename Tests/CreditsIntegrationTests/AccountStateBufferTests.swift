import Testing

@testable import CreditsService

@Suite("Customers whose state waits for credits.accounts")
struct AccountStateBufferTests {
    let second: UInt64 = 1_000_000_000

    /// Takes what is due, as the pipeline does once the states are read.
    func takeDue(_ buffer: inout AccountStateBuffer, at now: UInt64, everything: Bool = false) -> [String] {
        let due = buffer.due(at: now, intervalNanoseconds: second, everything: everything)
        buffer.removeDue(due.count)
        return due
    }

    @Test("each customer once, due an interval after its first change, and the first row still held")
    func dueOneByOne() {
        var buffer = AccountStateBuffer()
        buffer.add(["a", "b"], fromSeq: 1, at: 0)
        buffer.add(["a", "c"], fromSeq: 5, at: second / 2)
        #expect(takeDue(&buffer, at: second - 1).isEmpty)
        #expect(buffer.heldFrom == 1)
        #expect(takeDue(&buffer, at: second) == ["a", "b"], "a once, due from its first change")
        #expect(buffer.heldFrom == 5)
        // a changes again: it waits anew, from its new batch's rows.
        buffer.add(["a"], fromSeq: 9, at: second)
        #expect(takeDue(&buffer, at: second * 3 / 2) == ["c"])
        #expect(buffer.heldFrom == 9)
        #expect(takeDue(&buffer, at: second, everything: true) == ["a"])
        #expect(buffer.isEmpty && buffer.heldFrom == nil)
    }

    @Test("what is due stays until it is removed (reading the states may fail)")
    func dueStaysUntilRemoved() {
        var buffer = AccountStateBuffer()
        buffer.add(["a", "b"], fromSeq: 1, at: 0)
        #expect(buffer.due(at: second, intervalNanoseconds: second) == ["a", "b"])
        #expect(buffer.due(at: second, intervalNanoseconds: second) == ["a", "b"], "asked again: the same")
        #expect(buffer.heldFrom == 1)
        buffer.add(["a"], fromSeq: 3, at: second)
        buffer.removeDue(1)
        #expect(buffer.due(at: second, intervalNanoseconds: second) == ["b"])
        #expect(buffer.heldFrom == 1)
        buffer.removeDue(1)
        #expect(buffer.isEmpty)
        buffer.add(["a"], fromSeq: 7, at: second)
        #expect(buffer.heldFrom == 7, "a went out: its next change waits anew")
    }
}
