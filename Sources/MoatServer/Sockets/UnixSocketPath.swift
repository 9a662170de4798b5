import MoatSockets
import MoatWire
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif
// C types (`stat`, `dirent`) are also declared through CoreFoundation, which the etcd client's TLS
// stack loads into this module: imported here, so that their members resolve in this file.
#if canImport(CoreFoundation)
import CoreFoundation
#endif

/// Checks and clears a Unix socket path before binding, so that a live daemon's socket is never
/// taken over and a stale one (left by a crash) is replaced.
///
/// NIO's `cleanupExistingSocketFile` unlinks blindly; this probes with a connect first.
enum UnixSocketPath {
    static func prepare(_ path: String) throws(SocketSetupError) {
        guard path.utf8.count <= UnixDomainSocket.maximumPathLength else {
            throw SocketSetupError(
                "socket path '\(path)' is \(path.utf8.count) bytes; Unix socket paths are limited to \(UnixDomainSocket.maximumPathLength) bytes"
            )
        }
        let directory = FilePath(path).directory.string
        var info = stat()
        guard stat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw SocketSetupError("cannot create socket '\(path)': directory '\(directory)' does not exist")
        }
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw SocketSetupError("'\(path)' exists and is not a socket; refusing to replace it")
        }
        switch probe(path) {
        case .live:
            throw SocketSetupError(
                "socket '\(path)' is in use by a running process (another moatd?); refusing to take it over"
            )
        case .stale:
            guard unlink(path) == 0 || errno == ENOENT else {
                throw SocketSetupError("cannot remove stale socket '\(path)': \(Errno(rawValue: errno))")
            }
        case .failed(let code):
            throw SocketSetupError("cannot probe socket '\(path)': \(Errno(rawValue: code))")
        }
    }

    private enum Probe {
        case live
        case stale
        case failed(Int32)
    }

    private static func probe(_ path: String) -> Probe {
        do {
            close(try UnixDomainSocket.connect(to: path))
            return .live
        } catch {
            switch error.code {
            case ECONNREFUSED, ENOENT: return .stale
            case EAGAIN: return .live  // listening, with a full backlog
            default: return .failed(error.code)
            }
        }
    }

    /// Gives a bound socket the configured group. Its mode needs nothing more: it is bound with
    /// the configured mode (umask), so no moment passes with another mode, and nothing is changed
    /// through the path after binding but this, which does not follow a symbolic link put there.
    static func applyGroup(_ path: String, group: UInt32?) throws(SocketSetupError) {
        guard let group else { return }
        guard fchownat(AT_FDCWD, path, uid_t.max, gid_t(group), AT_SYMLINK_NOFOLLOW) == 0 else {
            throw SocketSetupError("cannot set group \(group) on '\(path)': \(Errno(rawValue: errno))")
        }
    }
}

/// A listening socket could not be set up; moatd exits 1 with this one line.
public struct SocketSetupError: Error, Sendable, CustomStringConvertible {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}
