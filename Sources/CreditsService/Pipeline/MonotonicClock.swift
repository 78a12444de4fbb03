import Dispatch

/// Nanoseconds on a clock that never jumps (unlike the wall clock): for deadlines, backoffs and ages.
enum MonotonicClock {
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}
