import GRPCCore
import MoatWire
import NIOCore

/// grpc-swift's serializer for an etcd request, over protobuf-c (as the Envoy service's codec).
struct EtcdSerializer<Message: EtcdRequest>: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: Message) throws -> Bytes {
        var buffer = ByteBuffer()
        do {
            try message.encode(into: &buffer)
        } catch {
            throw RPCError(code: .invalidArgument, message: "the etcd request cannot be encoded: \(error.message)")
        }
        return Bytes(buffer.readableBytesView)
    }
}

/// grpc-swift's deserializer for an etcd reply: bytes that are not one fail the call.
struct EtcdDeserializer<Message: EtcdResponse>: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> Message {
        let payload = serializedMessageBytes.withUnsafeBytes { ByteBuffer(bytes: $0) }
        do {
            return try Message(wirePayload: payload)
        } catch {
            throw RPCError(code: .internalError, message: "etcd sent a reply Moat cannot read: \(error.message)")
        }
    }
}
