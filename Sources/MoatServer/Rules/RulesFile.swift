import SystemPackage

#if canImport(Glibc)
import Glibc
#endif
// C types (`stat`, `dirent`) are also declared through CoreFoundation, which the etcd client's TLS
// stack loads into this module: imported here, so that their members resolve in this file.
#if canImport(CoreFoundation)
import CoreFoundation
#endif

/// The rules file, the one source of truth for the daemon's rules (docs/rules.md "Write-back").
///
/// Reads are plain; writes replace the file atomically (temporary file in the same directory,
/// fsync, rename, fsync of the directory), so a crash at any point leaves either the old or the new
/// document, never a torn one, and a failed write leaves the old one.
struct RulesFile: Sendable {
    let path: String

    init(path: String) {
        self.path = path
    }

    /// What identifies the file's current content cheaply (to skip re-reading an unchanged file).
    struct Fingerprint: Equatable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int64
        var changed: Int64

        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
            changed = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
        }
    }

    /// `nil` when the file does not exist (or cannot be examined).
    func fingerprint() -> Fingerprint? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Fingerprint(info)
    }

    func read() throws(RulesFileError) -> [UInt8] {
        do {
            let fd = try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec)
            return try fd.closeAfter {
                var bytes: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    // Interrupted reads are retried.
                    let count = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
                    if count == 0 { return bytes }
                    bytes += chunk[0..<count]
                }
            }
        } catch {
            let code = error as? Errno ?? .ioError
            throw RulesFileError(
                code: code == .noSuchFileOrDirectory ? .notFound : .unreadable,
                message: "cannot read rules file '\(path)': \(code)"
            )
        }
    }

    /// Why pushes cannot be written back, or `nil` when they can: a Kubernetes ConfigMap mount
    /// (`..data` link), a read-only file or file system, or a directory the daemon may not write.
    func writeRefusal() -> RulesFileError? {
        let target = resolvedPath()
        // kubelet mounts `rules.json -> ..data/rules.json`, `..data -> ..<timestamp>`.
        let viaData = { (text: String) in text.hasPrefix("..data/") || text.contains("/..data/") }
        if viaData(path) || Self.linkTarget(path).map(viaData) == true {
            return RulesFileError(
                code: .notWritable,
                message:
                    "the rules file '\(path)' is managed elsewhere (a Kubernetes ConfigMap mount): change the ConfigMap instead"
            )
        }
        let directory = FilePath(target).directory.string
        var info = stat()
        if stat(target, &info) == 0 {
            // Root passes access(2) checks, so a file without write bits is read-only by intent.
            if info.st_mode & 0o222 == 0 {
                return RulesFileError(
                    code: .notWritable,
                    message:
                        "the rules file '\(path)' is read-only (mode \(String(info.st_mode & 0o777, radix: 8))): pushes cannot be persisted"
                )
            }
            if access(target, W_OK) != 0 {
                return RulesFileError(
                    code: .notWritable,
                    message:
                        "the rules file '\(path)' is not writable (\(Errno(rawValue: errno))): pushes cannot be persisted"
                )
            }
        }
        if access(directory, W_OK) != 0 {
            return RulesFileError(
                code: .notWritable,
                message:
                    "cannot write to '\(directory)' (\(Errno(rawValue: errno))): pushes to '\(path)' cannot be persisted"
            )
        }
        return nil
    }

    /// The system calls whose failures a test cannot provoke on a real file system (EIO); the
    /// defaults are the real calls. Every other call is made directly.
    struct SystemCalls: Sendable {
        var fsync: @Sendable (Int32) -> Int32 = { Glibc.fsync($0) }
        var close: @Sendable (Int32) -> Int32 = { Glibc.close($0) }
    }

    var calls = SystemCalls()

    /// The mode of a rules file the daemon creates (docs/rules.md "Write-back").
    static let newFileMode: mode_t = 0o640

    /// Replaces the file's content atomically and durably, keeping its mode, owner and group
    /// (the owner where the daemon may set it). Returns the fingerprint of what it wrote, taken
    /// from the written file itself, not by path, so that a concurrent replacement by someone else
    /// is never mistaken for it.
    ///
    /// Either every step succeeds, or the file is left as it was: a failure after the rename
    /// (closing the new file, syncing the directory) puts the previous file back from a hard link
    /// kept until the end.
    @discardableResult
    func replace(with bytes: [UInt8]) throws(RulesFileError) -> Fingerprint {
        if let refusal = writeRefusal() { throw refusal }
        let target = resolvedPath()
        let directory = FilePath(target).directory.string
        var previous = stat()
        let existing = stat(target, &previous) == 0 ? previous : nil
        let mode = existing.map { $0.st_mode & 0o7777 } ?? Self.newFileMode
        let stem = "\(directory)/.\(Self.basename(of: target)).moat-\(getpid())"
        let temporary = "\(stem).tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure("create", temporary) }
        var isOpen = true
        func abandon(_ error: RulesFileError) -> RulesFileError {
            if isOpen { _ = calls.close(fd) }
            unlink(temporary)
            return error
        }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                throw abandon(failure("write", temporary))
            }
            written += count
        }
        if let existing {
            // Root keeps both; another daemon user keeps at least the group when it belongs to it.
            if fchown(fd, existing.st_uid, existing.st_gid) != 0 { _ = fchown(fd, uid_t.max, existing.st_gid) }
        }
        guard fchmod(fd, mode) == 0 else { throw abandon(failure("set the mode of", temporary)) }
        guard calls.fsync(fd) == 0 else { throw abandon(failure("fsync", temporary)) }
        // The previous file, kept (a hard link: no copy) until the new one is durable.
        let backup = "\(stem).old.tmp"
        unlink(backup)
        if existing != nil && link(target, backup) != 0 {
            throw abandon(failure("keep the previous rules file as", backup))
        }
        guard rename(temporary, target) == 0 else {
            let error = abandon(failure("rename", temporary))
            unlink(backup)
            throw error
        }
        func restore(_ error: RulesFileError) -> RulesFileError {
            if isOpen { _ = calls.close(fd) }
            if existing != nil { rename(backup, target) } else { unlink(target) }
            return error
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw restore(failure("examine", target)) }
        isOpen = false
        guard calls.close(fd) == 0 else { throw restore(failure("close", target)) }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else { throw restore(failure("open the directory", directory)) }
        let synced = calls.fsync(directoryFD) == 0 ? nil : failure("fsync the directory", directory)
        Glibc.close(directoryFD)
        if let synced { throw restore(synced) }
        unlink(backup)
        return Fingerprint(info)
    }

    /// Removes temporary files a killed daemon may have left next to the rules file.
    func removeStaleTemporaryFiles() {
        let target = resolvedPath()
        let directory = FilePath(target).directory.string
        guard let handle = opendir(directory) else { return }
        defer { closedir(handle) }
        let prefix = ".\(Self.basename(of: target)).moat-"
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(prefix) && name.hasSuffix(".tmp") { unlink("\(directory)/\(name)") }
        }
    }

    private func failure(_ step: String, _ file: String) -> RulesFileError {
        let code = errno
        let kind: RulesFileError.Code =
            switch code {
            case EACCES, EPERM, EROFS: .notWritable
            case ENOSPC, EDQUOT: .noSpace
            case EIO: .ioError
            default: .writeFailed
            }
        return RulesFileError(code: kind, message: "cannot \(step) '\(file)': \(Errno(rawValue: code))")
    }

    /// The text of the symbolic link at `path`, or `nil` when it is not one.
    static func linkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The path with symbolic links resolved (the file itself when it cannot be resolved).
    func resolvedPath() -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The last component of `path` (the file's name, for its temporary files).
    private static func basename(of path: String) -> String {
        FilePath(path).lastComponent?.string ?? path
    }
}

/// Why the rules file could not be read or written.
struct RulesFileError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case notFound
        case unreadable
        /// Read-only file or file system, or a file managed elsewhere (FAILED_PRECONDITION).
        case notWritable
        /// The file system is full, or the daemon's quota is spent (RESOURCE_EXHAUSTED).
        case noSpace
        /// The storage reported an I/O error (UNAVAILABLE).
        case ioError
        case writeFailed
    }

    var code: Code
    var message: String

    var description: String { message }
}
