internal import CMoatProto
public import NIOCore

/// `moat.v1.MetricsRequest` (Metrics, method 22): asks for the daemon's metrics; answered by a `MetricsResponse`.
public struct MetricsRequest: WireMessage, Hashable {
    public init() {}

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__MetricsRequest.self, from: payload) { _ in MetricsRequest() }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        ProtobufCCodec.encode(Moat__V1__MetricsRequest.self, into: &buffer) { _, _ in }
    }
}
