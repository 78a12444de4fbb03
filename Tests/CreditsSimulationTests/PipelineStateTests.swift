import CreditsCore
import CreditsKafka
import Testing

@testable import CreditsService

/// The pipeline's decisions without I/O, case by case. The simulator explores their
/// interleavings; these pin the two rules it found broken (defects 1 and 2 of issue 20).
@Suite("Pipeline state machine")
struct PipelineStateTests {
    let p0 = TopicPartition(topic: "credits.usage", partition: 0)
    let p1 = TopicPartition(topic: "credits.usage", partition: 1)

    private func message(_ partition: TopicPartition, _ offset: Int64) -> KafkaMessage {
        KafkaMessage(topic: partition.topic, partition: partition.partition, offset: offset, key: nil, value: [])
    }

    @Test("After a fenced batch the assignment waits for the group; positions read again move the consumer back (defect 1)")
    func fencedBatchSeeksBack() {
        // B owns P at 100 and polls P[100, 300); another instance takes P and commits P[100, 150);
        // B's batch is fenced.
        var state = PipelineState(shared: true, storedOffsets: [p0: 100])
        state.assigned([p0, p1])
        _ = state.owned([p0, p1], positions: [p0: 100, p1: 0], resuming: false)
        let rescanning = state.startRescan(undelivered: 0)
        #expect(rescanning)
        state.backlogAfter = nil
        #expect(state.deadlinesMayFire && state.isFresh(message(p1, 0)))
        state.heldBatch = (100..<300).map { message(p0, $0) }
        state.fenced([p0, p1])
        #expect(state.heldBatch == nil)
        // Nothing more is applied or fired until the group assigns anew, of either partition.
        #expect(!state.isFresh(message(p0, 200)) && !state.isFresh(message(p1, 0)))
        #expect(!state.deadlinesMayFire)
        #expect(state.pauseReasons[p1]?.contains("waiting for the group") == true)
        state.revoked([p0, p1])
        state.assigned([p0])
        // B reads P = 150 again while its consumer fetches from 300: it must seek to 150,
        // or P[150, 300) is never applied.
        let actions = state.owned([p0], positions: [p0: 150], resuming: true)
        #expect(actions.contains(.seek([p0: 150])))
        #expect(state.nextOffsets[p0] == 150)
        #expect(state.isFresh(message(p0, 150)))
        #expect(!state.isFresh(message(p0, 149)))
    }

    @Test("A partition never applied seeks to the beginning and waits for the group-offset check")
    func neverAppliedPartition() {
        var state = PipelineState(shared: true, storedOffsets: [:])
        state.assigned([p0, p1])
        let actions = state.owned([p0, p1], positions: [p0: 7], resuming: true)
        #expect(actions == [.seek([p0: 7, p1: KafkaOffset.beginning]), .resume([p0])])
        #expect(state.unverified == [p1])
        #expect(state.paused == [p1])
        #expect(!state.isFresh(message(p1, 0)))
        let verdict = state.verified([p1: 0])
        #expect(verdict.resume == [p1] && verdict.refused.isEmpty)
        #expect(state.paused.isEmpty)
    }

    @Test("A partition the group consumed but this store never applied stays paused with the reason")
    func groupOffsetWithoutState() {
        var state = PipelineState(shared: false, storedOffsets: [:])
        state.assigned([p0])
        _ = state.owned([p0], positions: [:], resuming: false)
        let verdict = state.verified([p0: 42])
        #expect(verdict.refused == [p0])
        #expect(state.paused == [p0])
        #expect(state.pauseReasons[p0]?.contains("group offset is 42") == true)
    }

    @Test("Inside the assignment callback owning returns no actions (the callback positions the partitions)")
    func ownedInsideAssignment() {
        var state = PipelineState(shared: false, storedOffsets: [:])
        state.assigned([p0])
        #expect(state.owned([p0], positions: [p0: 3], resuming: false).isEmpty)
        #expect(state.paused.isEmpty)
    }

    @Test("Shared store: after a change of ownership neither input nor deadlines go before the rescan's backlog (defect 2)")
    func deadlinesWaitForTheRescan() {
        var state = PipelineState(shared: true, storedOffsets: [:])
        state.backlogAfter = nil
        #expect(state.deadlinesMayFire)
        _ = state.owned([p0], positions: [p0: 10], resuming: true)
        // The old owner's undelivered `depleted` may be in the outbox: nothing fires yet.
        #expect(!state.deadlinesMayFire)
        #expect(state.inputWaits(undelivered: 0, window: 100))
        // The rescan waits until what this instance handed over is delivered.
        let startedEarly = state.startRescan(undelivered: 1)
        #expect(!startedEarly)
        #expect(!state.deadlinesMayFire)
        let started = state.startRescan(undelivered: 0)
        #expect(started)
        // The rescan found a backlog: still nothing fires until the publisher has taken it.
        #expect(state.backlogAfter == 0)
        #expect(!state.deadlinesMayFire)
        state.backlogAfter = nil
        #expect(state.deadlinesMayFire)
        #expect(!state.inputWaits(undelivered: 0, window: 100))
    }

    @Test("A failed read of the positions holds deadlines and input of the partitions")
    func ownFailedHoldsEverything() {
        var state = PipelineState(shared: true, storedOffsets: [p0: 5])
        state.backlogAfter = nil
        state.assigned([p0])
        state.ownFailed([p0], reason: "connection refused")
        #expect(!state.deadlinesMayFire)
        #expect(state.paused == [p0])
        #expect(state.pauseReasons[p0]?.contains("connection refused") == true)
    }

    @Test("Not shared: owning needs no rescan")
    func embeddedStoreNeedsNoRescan() {
        var state = PipelineState(shared: false, storedOffsets: [:])
        state.backlogAfter = nil
        _ = state.owned([p0], positions: [p0: 1], resuming: true)
        #expect(state.deadlinesMayFire)
        #expect(!state.needsOutboxRescan)
    }

    @Test("A revocation drops the held batch and every pause")
    func revocation() {
        var state = PipelineState(shared: true, storedOffsets: [p0: 5])
        state.assigned([p0])
        state.heldBatch = [message(p0, 5)]
        state.revoked([p0])
        #expect(state.heldBatch == nil && state.paused.isEmpty && state.unowned == nil)
    }

    @Test("Input waits while the window of unacknowledged output is full")
    func window() {
        var state = PipelineState(shared: false, storedOffsets: [:])
        state.backlogAfter = nil
        #expect(!state.inputWaits(undelivered: 99, window: 100))
        #expect(state.inputWaits(undelivered: 100, window: 100))
    }
}
