internal import CMoatProto
public import NIOCore

/// `moat.v1.GetDocumentRequest` (GetDocument, method 18): asks for the current rule document, or
/// one vault of it; answered by a `GetDocumentResponse`.
public struct GetDocumentRequest: WireMessage, Hashable {
    /// When set, only that vault's JSON (NOT_FOUND when there is none); `nil` (or empty) for the
    /// whole document.
    public var vault: String?

    public init(vault: String? = nil) {
        self.vault = vault
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__GetDocumentRequest.self, from: payload) { message in
            GetDocumentRequest(vault: CString.optional(message.vault))
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Moat__V1__GetDocumentRequest.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            try arena.set(&message.pointee.vault, vault, field: "vault")
        }
    }
}
