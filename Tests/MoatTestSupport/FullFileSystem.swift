#if canImport(Glibc)
import Glibc
#endif

/// A real full file system for tests of what a write does when the disk is full (ENOSPC): a small
/// tmpfs, which needs root (and a kernel that lets this namespace mount one).
public enum FullFileSystem {
    /// Whether this process may mount a tmpfs.
    public static let isAvailable: Bool = {
        guard getuid() == 0 else { return false }
        var template = Array("/tmp/moat-tmpfs-probe-XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { return false }
        let probe = String(cString: created)
        defer { rmdir(probe) }
        guard mountTmpfs(at: probe, bytes: 64 << 10) else { return false }
        umount2(probe, Int32(MNT_DETACH))
        return true
    }()

    /// Mounts a 256 KiB tmpfs at `path` (a new directory) for `body`, full but for one page
    /// (4 KiB): room for one small file, after which every write fails with ENOSPC. Unmounted when
    /// `body` returns or throws.
    public static func withRoomForOneSmallFile<Result>(
        at path: String,
        _ body: (String) async throws -> Result
    ) async throws -> Result {
        guard mkdir(path, 0o755) == 0, mountTmpfs(at: path, bytes: 256 << 10) else {
            throw MountError(description: "cannot mount a tmpfs at '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { umount2(path, Int32(MNT_DETACH)) }
        let filler = open(path + "/filler", O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        let page = [UInt8](repeating: 0, count: 4096)
        var size = 0
        while true {
            let written = page.withUnsafeBytes { write(filler, $0.baseAddress, $0.count) }
            guard written > 0 else { break }
            size += written
        }
        ftruncate(filler, off_t(max(0, size - page.count)))
        close(filler)
        return try await body(path)
    }

    public struct MountError: Error, CustomStringConvertible {
        public var description: String
    }

    private static func mountTmpfs(at path: String, bytes: Int) -> Bool {
        "size=\(bytes)".withCString { mount("tmpfs", path, "tmpfs", 0, $0) } == 0
    }
}
