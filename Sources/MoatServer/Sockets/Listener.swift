import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Where a listening socket comes from: a path moatd binds (and removes at exit), or a socket
/// systemd passed (never unlinked).
enum Listener {
    case path(SocketConfiguration)
    case inherited(fd: Int32)

    /// Binds with `bind` after making the path safe to bind (see `UnixSocketPath`), with the
    /// configured mode in force from the first moment (umask), then group ownership.
    func bind<Bound>(
        path bindPath: (String) async throws -> Bound,
        descriptor bindDescriptor: (Int32) async throws -> Bound
    ) async throws -> Bound {
        switch self {
        case .inherited(let fd):
            return try await bindDescriptor(fd)
        case .path(let socket):
            try UnixSocketPath.prepare(socket.path)
            let previous = umask(mode_t(~socket.mode & 0o777))
            let bound: Bound
            do {
                bound = try await bindPath(socket.path)
                umask(previous)
            } catch {
                umask(previous)
                throw SocketSetupError("cannot listen on '\(socket.path)': \(error)")
            }
            try UnixSocketPath.applyPermissions(socket.path, mode: socket.mode, group: socket.group)
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
