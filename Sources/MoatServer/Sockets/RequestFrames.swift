import MoatWire
import NIOCore

/// The frame plumbing both sockets share (docs/protocol.md): a request's payload decodes or
/// is refused INVALID_ARGUMENT, an answer encodes or fails INTERNAL, a method the socket does not
/// serve is UNIMPLEMENTED, and a refusal is an error frame on the request's stream.
struct RequestFrames {
    let socket: SocketKind
    let metrics: ServerMetrics

    func decode<Message: WireMessage>(_: Message.Type, _ frame: Frame) throws(StatusError) -> Message {
        try decode(frame) { payload throws(MessageCodingError) in try Message(wirePayload: payload) }
    }

    /// `frame`'s payload decoded by `decoding`, refused as `decode(_:_:)` refuses it.
    func decode<Message>(
        _ frame: Frame,
        _ decoding: (ByteBuffer) throws(MessageCodingError) -> Message
    ) throws(StatusError) -> Message {
        do {
            return try decoding(frame.payload)
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
            throw Self.encodingFailure(error)
        }
        return buffer
    }

    /// Appends the answer to `request` carrying `message` to `out`, packed once straight after its
    /// frame header; when it cannot be encoded, nothing is appended.
    func write(_ message: some WireMessage, answering request: Frame, into out: inout ByteBuffer) throws(StatusError) {
        do {
            try out.writeFrame(streamID: request.streamID, method: request.method, flags: .response) {
                buffer throws(MessageCodingError) in
                try message.encode(into: &buffer)
            }
        } catch {
            throw Self.encodingFailure(error)
        }
    }

    private static func encodingFailure(_ error: MessageCodingError) -> StatusError {
        StatusError(code: .internalError, message: "could not encode the answer: \(error.message)")
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
    func violation(_ frame: Frame) -> (error: StatusError, closesConnection: Bool)? {
        guard let violation = frame.requestHeaderViolation else { return nil }
        return (StatusError(code: violation.status, message: violation.description), violation.closesConnection)
    }

    static func reply(_ request: Frame, _ error: StatusError, _ allocator: ByteBufferAllocator) -> Frame {
        Frame(respondingTo: request, status: error.code, payload: error.payload(allocator))
    }

    /// Appends the answer to `request` that refuses it with `error` to `out`.
    static func write(_ error: StatusError, answering request: Frame, into out: inout ByteBuffer) {
        out.writeFrame(streamID: request.streamID, method: request.method, flags: .response, status: error.code) {
            // Never fails: what protobuf-c cannot carry is replaced (`StatusError.encode`).
            try? error.encode(into: &$0)
        }
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
