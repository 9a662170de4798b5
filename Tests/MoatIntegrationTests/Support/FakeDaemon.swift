import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A listening Unix socket that plays a daemon refusing every connection: it accepts, writes
/// `greeting` (a stream-0 refusal frame, or nothing), and closes. For the clients' side of the
/// connection-level refusals, independently of the real daemon.
final class FakeDaemon: Sendable {
    let path: String
    private let listener: Int32
    private let accepted = Atomic<Int>(0)

    init(path: String, greeting: [UInt8]) throws {
        self.path = path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw HarnessError("bind/listen '\(path)': \(message)")
        }
        listener = fd
        let thread = Thread { [self] in
            while true {
                let connection = accept(fd, nil, nil)
                if connection < 0 {
                    if errno == EINTR { continue }
                    return
                }
                accepted.wrappingAdd(1, ordering: .relaxed)
                _ = greeting.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(connection)
            }
        }
        thread.start()
    }

    /// Connections accepted so far.
    var connections: Int { accepted.load(ordering: .relaxed) }

    /// Stops accepting (the accept thread ends) and removes the socket file.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        unlink(path)
    }
}

/// The outcome of `operation`, or nil when it has not finished after `timeout`.
///
/// For calls that may hang (a client bug): the operation runs in an unstructured task that is
/// abandoned if it never finishes, so that the test can report the hang instead of hanging.
func outcome<T: Sendable>(
    within timeout: Duration,
    _ operation: @escaping @Sendable () async throws -> T
) async -> Result<T, any Error>? {
    let once = Once<T>()
    return await withCheckedContinuation { continuation in
        once.pending.withLock { $0 = continuation }
        Task {
            do { once.finish(.success(try await operation())) } catch { once.finish(.failure(error)) }
        }
        Task {
            try? await Task.sleep(for: timeout)
            once.finish(nil)
        }
    }
}

/// Resumes a continuation once, whoever comes first.
private final class Once<T: Sendable>: Sendable {
    let pending = Mutex<CheckedContinuation<Result<T, any Error>?, Never>?>(nil)

    func finish(_ value: Result<T, any Error>?) {
        pending.withLock { continuation in
            continuation?.resume(returning: value)
            continuation = nil
        }
    }
}
