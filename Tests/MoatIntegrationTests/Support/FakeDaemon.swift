import Foundation
import MoatSockets
import MoatWire
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A listening Unix socket that plays a daemon: for each connection it accepts, `serve` runs on a
/// thread of its own with the connection's descriptor, which is closed after. For the clients'
/// side of answers the real daemon cannot be made to give.
final class FakeDaemon: Sendable {
    let path: String
    private let listener: Int32
    private let accepted = Atomic<Int>(0)

    init(path: String, serve: @escaping @Sendable (Int32) -> Void) throws {
        self.path = path
        let fd: Int32
        do {
            fd = try UnixDomainSocket.listen(on: path, backlog: 16)
        } catch {
            throw HarnessError("listen on '\(path)': \(error)")
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
                Thread {
                    serve(connection)
                    close(connection)
                }.start()
            }
        }
        thread.start()
    }

    /// A daemon refusing every connection: it writes `greeting` (a stream-0 refusal frame, or
    /// nothing), and closes.
    convenience init(path: String, greeting: [UInt8]) throws {
        try self.init(path: path) { connection in
            _ = greeting.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
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
