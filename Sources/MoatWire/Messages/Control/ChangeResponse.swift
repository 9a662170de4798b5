internal import CMoatProto
public import MoatCore
public import NIOCore

/// `moat.v1.ChangeResponse`: the answer of every control call that can change the rules
/// (PutDocument, ApplyChange, Rollback, Reload).
///
/// A missing revision decodes as `Revision(sequence: 0, hash: "")`, as in `Decision`: the daemon
/// always sends one, and an answer without it names no snapshot.
public struct ChangeResponse: WireMessage, Hashable {
    /// False when the document was already as asked (no new revision).
    public var changed: Bool
    /// The revision now current (or, for a dry run, the one that would be).
    public var revision: Revision
    /// One line saying what changed, for the operator.
    public var summary: String

    public init(changed: Bool, revision: Revision, summary: String = "") {
        self.changed = changed
        self.revision = revision
        self.summary = summary
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__ChangeResponse.self, from: payload) { message in
            ChangeResponse(
                changed: message.changed != 0,
                revision: message.revision.map { Revision(cMessage: $0.pointee) } ?? Revision(sequence: 0, hash: ""),
                summary: CString.string(message.summary)
            )
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Moat__V1__ChangeResponse.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            message.pointee.changed = changed ? 1 : 0
            let cRevision = arena.message(Moat__V1__Revision.self)
            revision.fill(cRevision, &arena)
            message.pointee.revision = cRevision
            try arena.set(&message.pointee.summary, summary, field: "summary")
        }
    }
}
