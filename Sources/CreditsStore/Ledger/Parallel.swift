import Dispatch
import Foundation

/// Maps pure work (decoding inputs, encoding outputs) over the machine's cores.
public enum Parallel {
    /// `items.map(transform)`, split into one chunk per core when there is enough work.
    /// `transform` must be pure: it runs on several threads at once.
    public static func map<Item: Sendable, Result: Sendable>(
        _ items: [Item], minimumChunk: Int = 256,
        _ transform: @Sendable (Item) -> Result
    ) -> [Result] {
        let chunks = min(System.cores, items.count / minimumChunk)
        guard chunks > 1 else { return items.map(transform) }
        var results = [Result?](repeating: nil, count: items.count)
        results.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let output = buffer
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let lower = items.count * chunk / chunks
                let upper = items.count * (chunk + 1) / chunks
                for index in lower..<upper { output[index] = transform(items[index]) }
            }
        }
        return results.map { $0! }
    }
}

enum System {
    static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
}
