internal import CMoatProto
public import NIOCore

/// `moat.v1.ReloadRequest` (Reload, method 21): re-reads the rules file now, without waiting for
/// the watcher; answered by a `ChangeResponse`.
public struct ReloadRequest: WireMessage, Hashable {
    public init() {}

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__ReloadRequest.self, from: payload) { _ in ReloadRequest() }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        ProtobufCCodec.encode(Moat__V1__ReloadRequest.self, into: &buffer) { _, _ in }
    }
}
