internal import CMoatProto
public import MoatCore
public import NIOCore

/// `moat.v1.Pong`: whether the daemon is ready, and the revision it would decide on.
///
/// Not ready means no valid rules are loaded: checks would be answered UNAVAILABLE. `revision` is
/// `nil` when the daemon has none.
public struct Pong: WireMessage, Hashable {
    public var ready: Bool
    public var revision: Revision?

    public init(ready: Bool, revision: Revision? = nil) {
        self.ready = ready
        self.revision = revision
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__Pong.self, from: payload) { message in
            Pong(ready: message.ready != 0, revision: message.revision.map { Revision(cMessage: $0.pointee) })
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Moat__V1__Pong.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            message.pointee.ready = ready ? 1 : 0
            if let revision {
                let cRevision = arena.message(Moat__V1__Revision.self)
                revision.fill(cRevision, &arena)
                message.pointee.revision = cRevision
            }
        }
    }
}
