#if canImport(Glibc)
import Glibc
#endif

/// Real time, for token lifetimes and log timestamps (monotonic time comes from NIODeadline).
enum WallClock {
    static func seconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec)
    }

    static func millis() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
