internal import CMoatProto
public import NIOCore

/// `moat.v1.MetricsResponse`: the daemon's metrics, so `moatctl metrics` needs no HTTP listener.
public struct MetricsResponse: WireMessage, Hashable {
    /// Prometheus text exposition format.
    public var text: String

    public init(text: String) {
        self.text = text
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__MetricsResponse.self, from: payload) { message in
            MetricsResponse(text: CString.string(message.text))
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Moat__V1__MetricsResponse.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            try arena.set(&message.pointee.text, text, field: "text")
        }
    }
}
