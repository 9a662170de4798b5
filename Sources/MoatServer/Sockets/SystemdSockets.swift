import SystemPackage

#if canImport(Glibc)
import Glibc
#endif
// C types (`stat`, `dirent`) are also declared through CoreFoundation, which the etcd client's TLS
// stack loads into this module: imported here, so that their members resolve in this file.
#if canImport(CoreFoundation)
import CoreFoundation
#endif

/// Sockets passed by systemd socket activation (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`),
/// by name: moatd's are `moat` (data) and `moat-control`. Such sockets are never unlinked.
struct SystemdSockets: Sendable {
    static let dataName = "moat"
    static let controlName = "moat-control"

    /// File descriptors by name.
    let descriptors: [String: Int32]

    /// Reads (and clears, so children do not inherit them) the activation variables; empty when
    /// the process was not socket-activated.
    static func fromEnvironment() -> SystemdSockets {
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

    /// The listener passed as `name`, nil when none was; throws unless it is a listening Unix
    /// stream socket (SO_DOMAIN, SO_TYPE, SO_ACCEPTCONN), naming the descriptor and what it is.
    func listener(_ name: String) throws(SocketSetupError) -> Listener? {
        guard let fd = descriptors[name] else { return nil }
        func option(_ option: Int32) throws(SocketSetupError) -> Int32 {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, option, &value, &length) == 0 else {
                throw SocketSetupError(
                    "systemd socket '\(name)' (fd \(fd)) is not a usable socket: \(Errno(rawValue: errno))"
                )
            }
            return value
        }
        let domain = try option(SO_DOMAIN)
        let type = try option(SO_TYPE)
        let listening = try option(SO_ACCEPTCONN)
        guard domain == AF_UNIX, type == Int32(SOCK_STREAM.rawValue), listening == 1 else {
            let what = [
                domain == AF_UNIX ? nil : "domain \(Self.domainName(domain))",
                type == Int32(SOCK_STREAM.rawValue) ? nil : "type \(Self.typeName(type))",
                listening == 1 ? nil : "not listening",
            ].compactMap { $0 }.joined(separator: ", ")
            throw SocketSetupError(
                "systemd socket '\(name)' (fd \(fd)) is not a listening Unix stream socket (\(what)); use ListenStream= with a path"
            )
        }
        return .inherited(fd: fd)
    }

    private static func domainName(_ domain: Int32) -> String {
        switch domain {
        case AF_INET: "AF_INET"
        case AF_INET6: "AF_INET6"
        case AF_NETLINK: "AF_NETLINK"
        default: "\(domain)"
        }
    }

    private static func typeName(_ type: Int32) -> String {
        switch type {
        case Int32(SOCK_DGRAM.rawValue): "SOCK_DGRAM"
        case Int32(SOCK_SEQPACKET.rawValue): "SOCK_SEQPACKET"
        default: "\(type)"
        }
    }
}
