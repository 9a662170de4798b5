import Logging
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif
// C types (`stat`, `dirent`) are also declared through CoreFoundation, which the etcd client's TLS
// stack loads into this module: imported here, so that their members resolve in this file.
#if canImport(CoreFoundation)
import CoreFoundation
#endif

/// The open-file limit (RLIMIT_NOFILE) and the data connections that fit in it: at start the soft
/// limit is raised to the hard one, and `--max-connections` is lowered, if it must be, so that
/// the connections plus a reserve fit, and accept never runs out of descriptors in normal use
/// (README.md, moatd's flags).
enum DescriptorLimit {
    /// Descriptors kept for what is not a data connection, besides those already open at start
    /// (standard streams, event loops) and the control connections: the rules file and its
    /// write-back (file, temporary file, directory: 3), its watch (1), the decision log (2), the
    /// two listeners (2), and 16 for the outbound connections and listeners of later versions
    /// (the HTTP listeners among them; their connections, `--http-max-connections`, are
    /// reserved apart).
    static let allowance = 24

    /// What `fit` found and did, for the log.
    struct Adjustment: Equatable {
        var previousSoftLimit: UInt64
        var softLimit: UInt64
        var hardLimit: UInt64
        var inUse: Int
        var reserve: Int
        var requestedConnections: Int
        var connections: Int
    }

    /// Raises the soft limit to the hard limit (or the kernel's ceiling, `fs.nr_open`, when the
    /// hard limit is unlimited), then lowers `configuration.maximumConnections` to what fits.
    /// Throws when nothing fits.
    static func fit(_ configuration: inout ServerConfiguration) throws(SocketSetupError) -> Adjustment {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else {
            throw SocketSetupError("cannot read the open-file limit (RLIMIT_NOFILE): \(Errno(rawValue: errno))")
        }
        let previous = limit.rlim_cur
        let target = limit.rlim_max == rlim_t.max ? kernelCeiling() : limit.rlim_max
        if target > limit.rlim_cur {
            var raised = limit
            raised.rlim_cur = target
            if setrlimit(RLIMIT_NOFILE_VALUE, &raised) == 0 { limit = raised }
        }
        let inUse = openDescriptors()
        let http = configuration.http.isEnabled ? configuration.http.maximumConnections : 0
        let reserve = inUse + allowance + configuration.maximumControlConnections + http
        let available = Int(clamping: limit.rlim_cur) - reserve
        guard available >= 1 else {
            throw SocketSetupError(
                "the open-file limit (RLIMIT_NOFILE) of \(limit.rlim_cur) leaves no descriptor for data connections: \(reserve) are reserved (\(inUse) open at start, \(allowance) for files and listeners, \(configuration.maximumControlConnections) for control connections); raise it (ulimit -n, LimitNOFILE=)"
            )
        }
        let requested = configuration.maximumConnections
        configuration.maximumConnections = min(requested, available)
        return Adjustment(
            previousSoftLimit: UInt64(previous),
            softLimit: UInt64(limit.rlim_cur),
            hardLimit: UInt64(limit.rlim_max),
            inUse: inUse,
            reserve: reserve,
            requestedConnections: requested,
            connections: configuration.maximumConnections
        )
    }

    /// Logs the numbers: info when the configured limit fits, a warning when it was lowered.
    static func log(_ adjustment: Adjustment, perUID: Int, logger: Logger) {
        let metadata: Logger.Metadata = [
            "soft_limit": "\(adjustment.softLimit)", "previous_soft_limit": "\(adjustment.previousSoftLimit)",
            "hard_limit": "\(adjustment.hardLimit)", "in_use": "\(adjustment.inUse)",
            "reserved": "\(adjustment.reserve)", "max_connections": "\(adjustment.connections)",
            "max_connections_per_uid": "\(perUID)",
        ]
        if adjustment.connections < adjustment.requestedConnections {
            logger.warning(
                "--max-connections lowered from \(adjustment.requestedConnections) to \(adjustment.connections) to fit the open-file limit",
                metadata: metadata
            )
        } else {
            logger.info("open-file limit", metadata: metadata)
        }
    }

    /// The descriptors this process has open.
    static func openDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let first = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] }
            if first != UInt8(ascii: ".") { count += 1 }
        }
        return count - 1  // the directory's own descriptor
    }

    /// The largest open-file limit the kernel allows (`/proc/sys/fs/nr_open`; 1048576 if unreadable).
    private static func kernelCeiling() -> rlim_t {
        let fd = open("/proc/sys/fs/nr_open", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 1 << 20 }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 32)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        let text = String(decoding: bytes.prefix(max(0, count)), as: UTF8.self)
        return text.split(separator: "\n").first.flatMap { rlim_t($0) } ?? 1 << 20
    }

    private static var RLIMIT_NOFILE_VALUE: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
}
