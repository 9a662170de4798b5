import Foundation
import MoatCore
import MoatSockets
import MoatWire
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A frame as read off the socket, header fields as they arrived.
struct RawFrame: Sendable, CustomStringConvertible {
    var streamID: UInt32
    var method: UInt8
    var flags: UInt8
    var status: UInt16
    var payload: [UInt8]

    /// The `Error` payload of a non-OK frame.
    var error: StatusError? { try? StatusError(wirePayload: ByteBuffer(bytes: payload)) }

    var statusName: String { StatusCode(rawValue: status).name }

    var description: String {
        "frame(stream \(streamID), method \(method), flags \(flags), \(statusName)\(status == 0 ? "" : error.map { ": \($0.message)" } ?? ""))"
    }

    /// Encodes a frame with any header values, valid or not.
    static func bytes(
        streamID: UInt32,
        method: UInt8,
        flags: UInt8 = 0,
        status: UInt16 = 0,
        payload: [UInt8] = []
    ) -> [UInt8] {
        var out: [UInt8] = []
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.bigEndian) { out += $0 } }
        append(UInt32(8 + payload.count))
        append(streamID)
        append(method)
        append(flags)
        append(status)
        return out + payload
    }

    static func ping(streamID: UInt32) -> [UInt8] { bytes(streamID: streamID, method: MethodID.ping.rawValue) }

    static func check(streamID: UInt32, _ request: CheckRequest) throws -> [UInt8] {
        var buffer = ByteBuffer()
        try request.encode(into: &buffer)
        return bytes(streamID: streamID, method: MethodID.check.rawValue, payload: Array(buffer.readableBytesView))
    }
}

/// What a read found.
enum RawRead: Sendable {
    case frame(RawFrame)
    /// The daemon closed the connection (EOF or reset) at a frame boundary.
    case closed
}

/// A Unix stream connection driven byte by byte, for traffic the real clients never send.
/// Blocking system calls with poll(2) deadlines, run off the cooperative pool.
final class RawConnection: Sendable {
    let fd: Int32

    private init(fd: Int32) {
        self.fd = fd
    }

    static func connect(_ path: String) async throws -> RawConnection {
        try await offload {
            let fd: Int32
            do {
                fd = try UnixDomainSocket.connect(to: path)
            } catch {
                throw HarnessError("connect '\(path)': \(error)")
            }
            // Blocking from here on: sends and receives wait in poll(2) or the kernel, off the pool.
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
            return RawConnection(fd: fd)
        }
    }

    /// A TCP connection to `127.0.0.1:port` (moatd's `--http-listen`), driven the same way.
    static func connect(loopbackPort port: Int) async throws -> RawConnection {
        try await offload {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                let error = String(cString: strerror(errno))
                Glibc.close(fd)
                throw HarnessError("connect 127.0.0.1:\(port): \(error)")
            }
            return RawConnection(fd: fd)
        }
    }

    deinit {
        Glibc.close(fd)
    }

    /// Everything the peer sends until it closes the connection; throws when it has not closed
    /// within `timeout`.
    func readToEnd(timeout: Duration = .seconds(30)) async throws -> [UInt8] {
        let fd = self.fd
        return try await offload {
            let deadline = ContinuousClock.now + timeout
            var bytes: [UInt8] = []
            while true {
                guard let chunk = try Self.readSome(fd, deadline: deadline) else { return bytes }
                bytes += chunk
            }
        }
    }

    /// Whatever arrives next (up to 64 KiB), nil at EOF or reset.
    private static func readSome(_ fd: Int32, deadline: ContinuousClock.Instant) throws -> [UInt8]? {
        while true {
            let left = deadline - ContinuousClock.now
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, max(0, Int32(clamping: Int64(left / .milliseconds(1)))))
            if ready < 0 {
                if errno == EINTR { continue }
                throw HarnessError("poll: \(String(cString: strerror(errno)))")
            }
            if ready == 0 { throw HarnessError("timed out reading from the daemon") }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress!, $0.count, 0) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                if errno == ECONNRESET { return nil }
                throw HarnessError("recv: \(String(cString: strerror(errno)))")
            }
            return n == 0 ? nil : Array(buffer[..<n])
        }
    }

    /// Closes the connection now (the daemon sees EOF).
    func shutdown() {
        Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Writes all of `bytes`; never raises SIGPIPE. Throws if the daemon closed the connection.
    func send(_ bytes: [UInt8]) async throws {
        let fd = self.fd
        try await offload {
            var sent = 0
            while sent < bytes.count {
                let count = bytes.withUnsafeBytes {
                    Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL))
                }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw HarnessError("send: \(String(cString: strerror(errno)))")
                }
                sent += count
            }
        }
    }

    /// Bytes the daemon has written that wait in this end's receive queue, unread (FIONREAD).
    func unreadAnswerBytes() throws -> Int {
        try queueLength(UInt(FIONREAD), "FIONREAD")
    }

    /// Whether the daemon has read every byte sent on this connection: TIOCOUTQ of a Unix
    /// stream socket is the kernel memory of what was sent and not yet read, 0 once all is read.
    func daemonReadEverything() throws -> Bool {
        try queueLength(UInt(TIOCOUTQ), "TIOCOUTQ") == 0
    }

    private func queueLength(_ request: UInt, _ name: String) throws -> Int {
        var count: Int32 = 0
        guard ioctl(fd, request, &count) == 0 else {
            throw HarnessError("ioctl \(name): \(String(cString: strerror(errno)))")
        }
        return Int(count)
    }

    /// Reads one frame, or sees the connection closed; throws when neither happens within `timeout`.
    func read(timeout: Duration = .seconds(30)) async throws -> RawRead {
        let fd = self.fd
        return try await offload {
            let deadline = ContinuousClock.now + timeout
            guard let head = try Self.readExactly(fd, 4, deadline: deadline) else { return .closed }
            let length = Int(UInt32(head[0]) << 24 | UInt32(head[1]) << 16 | UInt32(head[2]) << 8 | UInt32(head[3]))
            guard length >= 8, length <= 64 << 20 else {
                throw HarnessError("the daemon sent a frame with length \(length)")
            }
            guard let rest = try Self.readExactly(fd, length, deadline: deadline) else {
                throw HarnessError("the connection closed inside a frame")
            }
            func integer<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
                rest[offset..<offset + MemoryLayout<T>.size].reduce(T(0)) { $0 << 8 | T($1) }
            }
            return .frame(
                RawFrame(
                    streamID: integer(0, UInt32.self),
                    method: rest[4],
                    flags: rest[5],
                    status: integer(6, UInt16.self),
                    payload: Array(rest[8...])
                )
            )
        }
    }

    /// Reads one frame; fails if the connection closed instead.
    func readFrame(timeout: Duration = .seconds(30)) async throws -> RawFrame {
        switch try await read(timeout: timeout) {
        case .frame(let frame): return frame
        case .closed: throw HarnessError("the daemon closed the connection instead of answering")
        }
    }

    /// Whether the daemon closes the connection within `timeout`, reading (and returning) any
    /// frames that come before the close.
    func readUntilClosed(timeout: Duration = .seconds(30)) async throws -> (closed: Bool, frames: [RawFrame]) {
        let deadline = ContinuousClock.now + timeout
        var frames: [RawFrame] = []
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return (false, frames) }
            do {
                switch try await read(timeout: left) {
                case .closed: return (true, frames)
                case .frame(let frame): frames.append(frame)
                }
            } catch let error as HarnessError where error.description.hasPrefix("timed out") {
                return (false, frames)
            }
        }
    }

    /// `count` bytes, nil at EOF (or reset) before the first byte.
    private static func readExactly(_ fd: Int32, _ count: Int, deadline: ContinuousClock.Instant) throws -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var received = 0
        while received < count {
            let left = deadline - ContinuousClock.now
            let milliseconds = max(
                0,
                Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
            )
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                throw HarnessError("poll: \(String(cString: strerror(errno)))")
            }
            if ready == 0 { throw HarnessError("timed out reading from the daemon") }
            let n = bytes.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress! + received, count - received, 0) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                if errno == ECONNRESET, received == 0 { return nil }
                throw HarnessError("recv: \(String(cString: strerror(errno)))")
            }
            if n == 0 {
                if received == 0 { return nil }
                throw HarnessError("the connection closed inside a frame")
            }
            received += n
        }
        return bytes
    }
}
