import MoatSockets
import MoatWire
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif
// C types (`stat`, `dirent`) are also declared through CoreFoundation, which the etcd client's TLS
// stack loads into this module: imported here, so that their members resolve in this file.
#if canImport(CoreFoundation)
import CoreFoundation
#endif

/// Where a listening socket comes from: a path moatd binds (and removes at exit), or a socket
/// systemd passed (never unlinked).
enum Listener {
    case path(SocketConfiguration)
    case inherited(fd: Int32)

    /// A listening socket handed to `adopt` (which gives it to NIO; `release` closes what it
    /// returned if setup fails afterwards): systemd's, or one bound here
    /// after making the path safe to bind (see `UnixSocketPath`), with the configured mode in force
    /// from the first moment (the umask during bind; no chmod after), then group ownership. Binding by hand lets paths use all 107
    /// bytes the kernel allows (NIO's own bind stops at 103).
    func bind<Bound>(
        backlog: Int32,
        adopt: (Int32) async throws -> Bound,
        release: (Bound) async throws -> Void
    ) async throws -> Bound {
        switch self {
        case .inherited(let fd):
            return try await adopt(fd)
        case .path(let socket):
            try UnixSocketPath.prepare(socket.path)
            let previous = umask(mode_t(~socket.mode & 0o777))
            let fd: Int32
            do {
                fd = try UnixDomainSocket.listen(on: socket.path, backlog: backlog)
                umask(previous)
            } catch {
                umask(previous)
                throw SocketSetupError("cannot listen on '\(socket.path)': \(error)")
            }
            let bound: Bound
            do {
                bound = try await adopt(fd)
            } catch {
                Glibc.close(fd)
                unlink(socket.path)
                throw SocketSetupError("cannot listen on '\(socket.path)': \(error)")
            }
            do {
                try UnixSocketPath.applyGroup(socket.path, group: socket.group)
            } catch {
                try? await release(bound)
                unlink(socket.path)
                throw error
            }
            return bound
        }
    }

    /// Removes the socket file moatd created.
    func removeSocketFile() {
        if case .path(let socket) = self { unlink(socket.path) }
    }

    var description: String {
        switch self {
        case .path(let socket): socket.path
        case .inherited(let fd): "systemd socket (fd \(fd))"
        }
    }
}
