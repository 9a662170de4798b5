#if canImport(Glibc)
import Glibc
#endif

/// Sockets passed by systemd socket activation (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`),
/// by name: moatd's are `moat` (data) and `moat-control`. Such sockets are never unlinked.
public struct SystemdSockets: Sendable {
    public static let dataName = "moat"
    public static let controlName = "moat-control"

    /// File descriptors by name.
    public let descriptors: [String: Int32]

    /// Reads (and clears, so children do not inherit them) the activation variables; empty when
    /// the process was not socket-activated.
    public static func fromEnvironment() -> SystemdSockets {
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        guard let pid = getenv("LISTEN_PID").map({ String(cString: $0) }), Int32(pid) == getpid(),
            let count = getenv("LISTEN_FDS").map({ String(cString: $0) }).flatMap(Int32.init), count > 0
        else { return SystemdSockets(descriptors: [:]) }
        let names =
            getenv("LISTEN_FDNAMES").map {
                String(cString: $0).split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            } ?? []
        var descriptors: [String: Int32] = [:]
        for index in 0..<count {
            let fd = 3 + index
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let name = Int(index) < names.count ? names[Int(index)] : (index == 0 ? dataName : "unknown")
            descriptors[name] = fd
        }
        return SystemdSockets(descriptors: descriptors)
    }
}
