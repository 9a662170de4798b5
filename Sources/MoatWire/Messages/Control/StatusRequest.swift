internal import CMoatProto
public import NIOCore

/// `moat.v1.StatusRequest` (Status, method 19): asks for the daemon's state; answered by a `StatusResponse`.
public struct StatusRequest: WireMessage, Hashable {
    public init() {}

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__StatusRequest.self, from: payload) { _ in StatusRequest() }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        ProtobufCCodec.encode(Moat__V1__StatusRequest.self, into: &buffer) { _, _ in }
    }
}
