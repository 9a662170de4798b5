internal import CMoatProto
public import NIOCore

/// `moat.v1.Ping`: asks the daemon whether it is ready; answered by a `Pong`.
public struct Ping: WireMessage, Hashable {
    public init() {}

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__Ping.self, from: payload) { _ in Ping() }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        ProtobufCCodec.encode(Moat__V1__Ping.self, into: &buffer) { _, _ in }
    }
}
