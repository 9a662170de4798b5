#if canImport(Glibc)
import Glibc
#endif

/// Unix stream sockets made by hand, for the paths NIO's `SocketAddress` refuses: NIO stops at
/// 103 bytes, the kernel takes 107 (`sun_path` holds 108 with the NUL). The daemon, the client
/// and `moatctl bench` hand the resulting descriptors to NIO; this module is theirs alone.
package enum UnixDomainSocket {
    /// The longest path a Unix socket address holds.
    package static let maximumPathLength = 107

    /// Why a socket call failed: the call and `errno`.
    package struct Failure: Error, CustomStringConvertible {
        package var call: String
        package var code: Int32

        package var description: String { "\(call): \(String(cString: strerror(code)))" }
    }

    /// A connected, non-blocking socket; the caller owns the descriptor. A listener whose backlog
    /// is full answers EAGAIN at once rather than making the caller wait past its deadline.
    package static func connect(to path: String) throws(Failure) -> Int32 {
        guard path.utf8.count <= maximumPathLength, !path.utf8.contains(0) else {
            throw Failure(call: "connect", code: ENAMETOOLONG)
        }
        let fd = try makeSocket(nonBlocking: true)
        let result = withAddress(path) { address, length in Glibc.connect(fd, address, length) }
        guard result == 0 else {
            let failure = Failure(call: "connect", code: errno)
            close(fd)
            throw failure
        }
        return fd
    }

    /// A bound, listening socket; the caller owns the descriptor.
    package static func listen(on path: String, backlog: Int32) throws(Failure) -> Int32 {
        guard path.utf8.count <= maximumPathLength, !path.utf8.contains(0) else {
            throw Failure(call: "bind", code: ENAMETOOLONG)
        }
        let fd = try makeSocket(nonBlocking: false)
        guard withAddress(path, { address, length in bind(fd, address, length) }) == 0 else {
            let failure = Failure(call: "bind", code: errno)
            close(fd)
            throw failure
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let failure = Failure(call: "listen", code: errno)
            close(fd)
            throw failure
        }
        return fd
    }

    private static func makeSocket(nonBlocking: Bool) throws(Failure) -> Int32 {
        let flags =
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
            | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        let fd = socket(AF_UNIX, flags, 0)
        guard fd >= 0 else { throw Failure(call: "socket", code: errno) }
        return fd
    }

    private static func withAddress(
        _ path: String,
        _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32
    ) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (i, byte) in bytes.enumerated() { buffer[i] = byte }
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + bytes.count + 1)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}
