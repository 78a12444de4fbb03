import CreditsCore
import Testing

@testable import CreditsService

@Suite("Account states waiting for credits.accounts")
struct AccountStateBufferTests {
    func state(_ customerID: String, version: Int64) -> AccountState {
        AccountState(
            CustomerAccount(customerID: customerID, version: version),
            at: Timestamp(millisecondsSinceEpoch: version))
    }

    @Test("newest state per customer, due an interval after its first change, and the first row still held")
    func dueOneByOne() {
        let second: UInt64 = 1_000_000_000
        var buffer = AccountStateBuffer()
        buffer.add([state("a", version: 1), state("b", version: 1)], fromSeq: 1, at: 0)
        buffer.add([state("a", version: 2), state("c", version: 1)], fromSeq: 5, at: second / 2)
        #expect(buffer.takeDue(at: second - 1, intervalNanoseconds: second).isEmpty)
        #expect(buffer.heldFrom == 1)
        let first = buffer.takeDue(at: second, intervalNanoseconds: second)
        #expect(first.map(\.account.customerID) == ["a", "b"])
        #expect(first.map(\.account.version) == [2, 1], "a's newest state")
        #expect(buffer.heldFrom == 5)
        // a changes again: it waits anew, from its new batch's rows.
        buffer.add([state("a", version: 3)], fromSeq: 9, at: second)
        #expect(buffer.takeDue(at: second * 3 / 2, intervalNanoseconds: second).map(\.account.customerID) == ["c"])
        #expect(buffer.heldFrom == 9)
        #expect(buffer.takeDue(at: second, intervalNanoseconds: second, everything: true).map(\.account.version) == [3])
        #expect(buffer.isEmpty && buffer.heldFrom == nil)
    }
}
