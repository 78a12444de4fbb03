import Foundation

/// A batch of input messages decoded on another thread while the store applies the first ones:
/// the decode of the batch overlaps with its apply instead of coming before it. Messages are
/// decoded in order and handed over in runs; `message(at:)` waits only when the apply has caught
/// up with the decode. Decoding is pure, so the store sees exactly the messages it would have
/// seen had the whole batch been decoded first.
///
/// A small batch (fewer than `overlapFrom` messages, e.g. under a light load, where a thread hop
/// would only add latency) is decoded at once, on the calling thread; so is any batch for a store
/// that needs all of a batch before it starts (`LedgerWriter.appliesWhileDecoding`), on every
/// core when it is large.
public final class DecodingBatch<Note: Sendable>: @unchecked Sendable {
    /// Messages in the batch.
    public let count: Int
    /// Written by the decoding thread only below `decoded`'s new value before it is published
    /// (under `condition`), read by the applying thread only below the `decoded` it saw.
    private let slots: UnsafeMutableBufferPointer<(InboundMessage, Note)>
    private let condition = NSCondition()
    /// Messages decoded so far (guarded by `condition`).
    private var decoded = 0
    /// The applying thread's copy of `decoded` (read without the lock below it).
    private var seen = 0

    /// The size from which a batch is decoded on another thread, unless told otherwise.
    public static var defaultOverlapFrom: Int { 256 }
    /// Messages handed over at a time.
    private static var run: Int { 32 }

    /// Starts decoding `count` messages with `decode` (pure: it runs on another thread when
    /// `count` is at least `overlapFrom`).
    public init(
        count: Int, overlapFrom: Int = defaultOverlapFrom, decode: @escaping @Sendable (Int) -> (InboundMessage, Note)
    ) {
        self.count = count
        slots = .allocate(capacity: count)
        guard count >= overlapFrom else {
            // At once: on every core for a large batch (a store that needs all of it first).
            let messages = Parallel.map(Array(0..<count), decode)
            _ = slots.initialize(from: messages)
            decoded = count
            seen = count
            return
        }
        // A thread of its own, not a shared pool's: the applying thread waits for it, and a pool
        // whose threads are all busy or blocked would make it wait for a pool thread to free up.
        Thread.detachNewThread { [self] in
            // `self` is held until the last message is decoded: the slots outlive the thread.
            var index = 0
            while index < count {
                let end = min(count, index + Self.run)
                for position in index..<end { (slots.baseAddress! + position).initialize(to: decode(position)) }
                index = end
                condition.lock()
                decoded = end
                condition.broadcast()
                condition.unlock()
            }
        }
    }

    deinit {
        // Only after the decoding thread let go of `self`: every slot is initialized.
        _ = slots.deinitialize()
        slots.deallocate()
    }

    /// The decoded message at `index`, once it is decoded. From one thread (the applying one).
    public func message(at index: Int) -> InboundMessage {
        waitFor(index)
        return slots[index].0
    }

    /// What `decode` noted beside the message at `index` (e.g. a signature check's outcome).
    public func note(at index: Int) -> Note {
        waitFor(index)
        return slots[index].1
    }

    /// Every message, once all are decoded.
    public func messages() -> [InboundMessage] {
        guard count > 0 else { return [] }
        waitFor(count - 1)
        return slots.map(\.0)
    }

    private func waitFor(_ index: Int) {
        precondition(index >= 0 && index < count, "message \(index) of a batch of \(count)")
        guard index >= seen else { return }
        condition.lock()
        while decoded <= index { condition.wait() }
        seen = decoded
        condition.unlock()
    }
}
