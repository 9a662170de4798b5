import MoatWire
import NIOCore

/// The frame plumbing both sockets share (docs/protocol.md): a request's payload decodes or
/// is refused INVALID_ARGUMENT, an answer encodes or fails INTERNAL, a method the socket does not
/// serve is UNIMPLEMENTED, and a refusal is an error frame on the request's stream.
struct RequestFrames {
    let socket: SocketKind
    let metrics: ServerMetrics

    func decode<Message: WireMessage>(_: Message.Type, _ frame: Frame) throws(StatusError) -> Message {
        do {
            return try Message(wirePayload: frame.payload)
        } catch {
            metrics.countRefusal(.undecodablePayload)
            throw StatusError(code: .invalidArgument, message: error.message)
        }
    }

    func encode(_ message: some WireMessage, _ allocator: ByteBufferAllocator) throws(StatusError) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 256)
        do {
            try message.encode(into: &buffer)
        } catch {
            throw StatusError(code: .internalError, message: "could not encode the answer: \(error.message)")
        }
        return buffer
    }

    /// The refusal of a frame whose method this socket does not serve.
    func unimplemented(_ method: MethodID) -> StatusError {
        metrics.countRefusal(.unknownMethod)
        guard let other = method.socket, other != socket else {
            return StatusError(code: .unimplemented, message: "unknown method id \(method.rawValue)")
        }
        return StatusError(
            code: .unimplemented,
            message: "\(method) is served on the \(other) socket, not the \(socket) socket"
        )
    }

    /// The refusal of a frame whose header (flags, status) breaks the rules, and whether it ends
    /// the connection.
    func violation(_ frame: Frame, _ allocator: ByteBufferAllocator) -> (frame: Frame, closesConnection: Bool)? {
        guard let violation = frame.requestHeaderViolation else { return nil }
        let error = StatusError(code: violation.status, message: violation.description)
        return (Self.reply(frame, error, allocator), violation.closesConnection)
    }

    static func reply(_ request: Frame, _ error: StatusError, _ allocator: ByteBufferAllocator) -> Frame {
        Frame(respondingTo: request, status: error.code, payload: error.payload(allocator))
    }

    static func reply(_ request: Frame, _ payload: ByteBuffer) -> Frame {
        Frame(respondingTo: request, status: .ok, payload: payload)
    }
}

extension StatusError {
    /// The error as a frame payload.
    func payload(_ allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64 + message.utf8.count)
        // Never fails: what protobuf-c cannot carry is replaced (`StatusError.encode`).
        try? encode(into: &buffer)
        return buffer
    }
}
