internal import CMoatProto
public import NIOCore

/// `moat.v1.PutDocumentRequest` (PutDocument, method 16): replaces the whole rule document;
/// answered by a `ChangeResponse`.
///
/// The document travels as bytes, not a string, so the daemon sees exactly what the operator
/// wrote and reports JSON errors at their byte positions.
///
/// ```swift
/// let request = PutDocumentRequest(document: Array(try Data(contentsOf: url)), expectedRevision: current.hash)
/// ```
public struct PutDocumentRequest: WireMessage, Hashable {
    /// The rule document, JSON.
    public var document: [UInt8]
    /// When set, the daemon refuses the put (ABORTED) unless this is the current revision's hash,
    /// so two operators cannot overwrite each other unknowingly. Empty is sent as absent.
    public var expectedRevision: String?
    /// Validate and report, change nothing.
    public var dryRun: Bool

    public init(document: [UInt8], expectedRevision: String? = nil, dryRun: Bool = false) {
        self.document = document
        self.expectedRevision = expectedRevision
        self.dryRun = dryRun
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__PutDocumentRequest.self, from: payload) { message in
            PutDocumentRequest(
                document: CBytes.array(message.document),
                expectedRevision: CString.optional(message.expected_revision),
                dryRun: message.dry_run != 0
            )
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Moat__V1__PutDocumentRequest.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            arena.set(&message.pointee.document, document)
            try arena.set(&message.pointee.expected_revision, expectedRevision, field: "expected_revision")
            message.pointee.dry_run = dryRun ? 1 : 0
        }
    }
}
