internal import CMoatProto
public import MoatCore
public import NIOCore

/// `moat.v1.ApplyChangeRequest` (ApplyChange, method 17): one edit of the current rule document,
/// as moatctl's Azure-style verbs express it; answered by a `ChangeResponse`.
///
/// The change is MoatCore's `DocumentChange`, so the daemon applies exactly what was decoded
/// (see `DocumentChange+Wire.swift` for the mapping and what decoding refuses).
///
/// ```swift
/// let request = ApplyChangeRequest(change: .addIpRule(vault: "contoso-prod", value: "203.0.113.0/24"))
/// ```
public struct ApplyChangeRequest: WireMessage, Hashable {
    public var change: DocumentChange
    /// When set, the daemon refuses the change (ABORTED) unless this is the current revision's
    /// hash. Empty is sent as absent.
    public var expectedRevision: String?
    /// Validate and report, change nothing.
    public var dryRun: Bool
    /// Make the change on the shadow candidate (the current one, else a copy of the serving
    /// document) instead of the serving document (docs/protocol.md, "Shadow rule sets").
    public var shadow = false
    /// With `shadow`: make the change on the fleet's candidate in etcd, judged by every node
    /// (docs/etcd.md, "A fleet's shadow candidate"); needs the etcd rules source.
    public var fleet = false

    public init(change: DocumentChange, expectedRevision: String? = nil, dryRun: Bool = false) {
        self.change = change
        self.expectedRevision = expectedRevision
        self.dryRun = dryRun
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__ApplyChangeRequest.self, from: payload) {
            message throws(MessageCodingError) in
            var request = ApplyChangeRequest(
                change: try DocumentChange(cMessage: message),
                expectedRevision: CString.optional(message.expected_revision),
                dryRun: message.dry_run != 0
            )
            request.shadow = message.shadow != 0
            request.fleet = message.fleet != 0
            return request
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Moat__V1__ApplyChangeRequest.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            try change.fill(message, &arena)
            try arena.set(&message.pointee.expected_revision, expectedRevision, field: "expected_revision")
            message.pointee.dry_run = dryRun ? 1 : 0
            message.pointee.shadow = shadow ? 1 : 0
            message.pointee.fleet = fleet ? 1 : 0
        }
    }
}
