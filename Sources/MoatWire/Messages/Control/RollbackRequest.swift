internal import CMoatProto
public import NIOCore

/// `moat.v1.RollbackRequest` (Rollback, method 20): returns to a kept revision; answered by a
/// `ChangeResponse`.
public struct RollbackRequest: WireMessage, Hashable {
    /// The hash of a kept revision; `nil` (or empty) for the one before the current one.
    public var revisionHash: String?

    public init(revisionHash: String? = nil) {
        self.revisionHash = revisionHash
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__RollbackRequest.self, from: payload) { message in
            RollbackRequest(revisionHash: CString.optional(message.revision_hash))
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Moat__V1__RollbackRequest.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            try arena.set(&message.pointee.revision_hash, revisionHash, field: "revision_hash")
        }
    }
}
