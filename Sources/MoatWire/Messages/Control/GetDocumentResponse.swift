internal import CMoatProto
public import MoatCore
public import NIOCore

/// `moat.v1.GetDocumentResponse`: the rule document (or one vault of it) as JSON bytes, and the
/// revision it belongs to, so an operator can edit it and put it back with `expectedRevision`.
///
/// A missing revision decodes as `Revision(sequence: 0, hash: "")`, as in `ChangeResponse`.
public struct GetDocumentResponse: WireMessage, Hashable {
    /// JSON.
    public var document: [UInt8]
    public var revision: Revision

    public init(document: [UInt8], revision: Revision) {
        self.document = document
        self.revision = revision
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__GetDocumentResponse.self, from: payload) { message in
            GetDocumentResponse(
                document: CBytes.array(message.document),
                revision: message.revision.map { Revision(cMessage: $0.pointee) } ?? Revision(sequence: 0, hash: "")
            )
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Moat__V1__GetDocumentResponse.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            arena.set(&message.pointee.document, document)
            let cRevision = arena.message(Moat__V1__Revision.self)
            revision.fill(cRevision, &arena)
            message.pointee.revision = cRevision
        }
    }
}
