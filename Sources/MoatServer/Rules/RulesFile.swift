#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The rules file, the one source of truth for the daemon's rules (DESIGN.md "Snapshot lifecycle").
///
/// Reads are plain; writes replace the file atomically (temporary file in the same directory,
/// fsync, rename, fsync of the directory), so a crash at any point leaves either the old or the new
/// document, never a torn one.
public struct RulesFile: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// What identifies the file's current content cheaply (to skip re-reading an unchanged file).
    struct Fingerprint: Equatable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int64
        var changed: Int64
    }

    /// `nil` when the file does not exist (or cannot be examined).
    func fingerprint() -> Fingerprint? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Fingerprint(
            device: UInt64(info.st_dev),
            inode: UInt64(info.st_ino),
            size: Int64(info.st_size),
            modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
            changed: Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
        )
    }

    public func read() throws(RulesFileError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw RulesFileError(
                code: code == ENOENT ? .notFound : .unreadable,
                message: "cannot read rules file '\(path)': \(Self.describe(code))"
            )
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw RulesFileError(
                    code: .unreadable,
                    message: "cannot read rules file '\(path)': \(Self.describe(errno))"
                )
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
        }
    }

    /// Why pushes cannot be written back, or `nil` when they can: a Kubernetes ConfigMap mount
    /// (`..data` link), a read-only file or file system, or a directory the daemon may not write.
    public func writeRefusal() -> RulesFileError? {
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
        let directory = Self.directory(of: target)
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
                        "the rules file '\(path)' is not writable (\(Self.describe(errno))): pushes cannot be persisted"
                )
            }
        }
        if access(directory, W_OK) != 0 {
            return RulesFileError(
                code: .notWritable,
                message:
                    "cannot write to '\(directory)' (\(Self.describe(errno))): pushes to '\(path)' cannot be persisted"
            )
        }
        return nil
    }

    /// Replaces the file's content atomically and durably. The file keeps its permissions.
    public func replace(with bytes: [UInt8]) throws(RulesFileError) {
        if let refusal = writeRefusal() { throw refusal }
        let target = resolvedPath()
        let directory = Self.directory(of: target)
        var mode: mode_t = 0o644
        var info = stat()
        if stat(target, &info) == 0 { mode = info.st_mode & 0o7777 }
        let temporary = "\(directory)/.\(Self.basename(of: target)).moat-\(getpid()).tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure("create", temporary) }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                let error = failure("write", temporary)
                close(fd)
                unlink(temporary)
                throw error
            }
            written += count
        }
        fchmod(fd, mode)
        guard fsync(fd) == 0 else {
            let error = failure("fsync", temporary)
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, target) == 0 else {
            let error = failure("rename", temporary)
            unlink(temporary)
            throw error
        }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }

    /// Removes temporary files a killed daemon may have left next to the rules file.
    public func removeStaleTemporaryFiles() {
        let target = resolvedPath()
        let directory = Self.directory(of: target)
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
        let kind: RulesFileError.Code = [EACCES, EPERM, EROFS].contains(code) ? .notWritable : .writeFailed
        return RulesFileError(code: kind, message: "cannot \(step) '\(file)': \(Self.describe(code))")
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

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func basename(of path: String) -> String {
        path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
    }

    static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}

/// Why the rules file could not be read or written.
public struct RulesFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        case notFound
        case unreadable
        /// Read-only file or file system, or a file managed elsewhere (FAILED_PRECONDITION).
        case notWritable
        case writeFailed
    }

    public var code: Code
    public var message: String

    public var description: String { message }
}
