import CreditsCore
import Foundation

/// Output messages encoded on another thread while the batch that made them is written and
/// committed (encoding is pure; the messages are produced only after the commit, as before).
///
/// Like `DecodingBatch`, on a thread of its own rather than a shared pool's: the applying thread
/// waits for it, and a pool whose threads are all busy or blocked would make it wait for one.
final class EarlyEncoding: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    /// Written once by the encoding thread before it signals `done`, read after the wait.
    private var messages: [OutboundMessage] = []

    init(_ records: [OutboxRecord]) {
        Thread.detachNewThread { [self] in
            messages = records.map(\.message)
            done.signal()
        }
    }

    /// Waits for the encoding and puts its messages in place of the first records' events.
    func replace(in records: inout [OutboxRecord]) {
        done.wait()
        for (index, message) in messages.enumerated() { records[index].event = .encoded(message) }
    }
}
