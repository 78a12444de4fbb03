import Synchronization

/// What the pipeline tells the rest of the service (readiness, metrics), shared across threads.
public final class ServiceStatus: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var storeOpen = false
        /// The group has given this instance its share (possibly none) at least once.
        public var joinedGroup = false
        public var assignedPartitions: [String] = []
        /// Partitions the pipeline will not apply, with the reason.
        public var pausedPartitions: [String: String] = [:]
        public var stopping = false
        /// The embedded broker's address, when one runs.
        public var bootstrapServers: String?
        /// The HTTP port actually bound (differs from the configured one when that is 0).
        public var httpPort: Int?
        /// The oldest output message has waited longer than `pipeline.output_stall_ms`.
        public var outputStalled = false
        /// Why the store last refused a write, until it takes writes again.
        public var storeError: String?

        /// Ready: store open and writable, group joined, output flowing (and not shutting down). An
        /// instance the group gave no partitions (more instances than partitions) is ready.
        public var isReady: Bool { notReadyReason == nil }

        /// Why the instance is not ready, for `/readyz`; nil when it is.
        public var notReadyReason: String? {
            if stopping { return "stopping" }
            if !storeOpen { return "opening the store" }
            if let storeError { return "the store cannot be written: \(storeError)" }
            if !joinedGroup {
                return "waiting to join the consumer group (is Kafka reachable?)"
            }
            if outputStalled { return "output stalled: the oldest output message is undelivered past pipeline.output_stall_ms" }
            return nil
        }
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    public func update(_ change: (inout Snapshot) -> Void) {
        state.withLock { change(&$0) }
    }
}

/// A stop request that the pipeline thread polls.
public final class StopSignal: Sendable {
    private let flag = Atomic(false)

    public init() {}

    public func stop() { flag.store(true, ordering: .releasing) }

    public var isStopped: Bool { flag.load(ordering: .acquiring) }
}
