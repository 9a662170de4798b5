public import NIOCore

/// A value that travels as one protobuf message in a frame's payload (`moat.v1`).
///
/// ```swift
/// var payload = ByteBuffer()
/// try request.encode(into: &payload)                       // client
/// let decoded = try CheckRequest(wirePayload: payload)       // daemon
/// ```
public protocol WireMessage: Sendable {
    /// Decodes the message from all readable bytes of `payload` (not consumed).
    ///
    /// Strings holding a NUL byte or invalid UTF-8 are refused, naming the field.
    init(wirePayload payload: ByteBuffer) throws(MessageCodingError)

    /// Appends the message's encoding to `buffer`.
    ///
    /// Refuses strings holding a NUL byte, which protobuf-c cannot carry.
    func encode(into buffer: inout ByteBuffer) throws(MessageCodingError)
}
