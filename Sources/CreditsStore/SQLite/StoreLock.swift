#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An exclusive lock on a store file, so that one process at a time writes it: an advisory
/// `flock` on `<store>.lock`, which holds the owner's PID for the error message. The kernel
/// drops the lock when the owner exits, however it exits.
final class StoreLock {
    private let descriptor: Int32
    private var released = false
    let path: String

    /// Takes the lock for the store at `storePath`, or throws naming the process that holds it.
    init(storePath: String) throws(StoreError) {
        path = storePath + ".lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StoreError(
                code: -1, message: "cannot open the lock file: \(String(cString: strerror(errno)))",
                context: "locking \(storePath)")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.readPID(descriptor)
            release()  // deinit runs for a fully initialised object whose init throws: close once only
            throw StoreError(
                code: -1,
                message: "the store \(storePath) is in use by another process"
                    + (holder.map { " (PID \($0))" } ?? "")
                    + "; only one credits-ledger serve may write a store at a time",
                context: "locking \(storePath)")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    deinit { release() }

    /// Gives the lock up (also done when the object goes away). Unlocked explicitly before the
    /// close: a child process forked by another thread may share the descriptor until it execs,
    /// and a close alone leaves the lock with that copy.
    func release() {
        guard !released else { return }
        released = true
        _ = flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    private static func readPID(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer.prefix(count).filter { (48...57).contains($0) }, as: UTF8.self))
    }
}
