import GRPCCore
import MoatKeyVaultHTTP
import MoatWire
import NIOCore

/// What the Envoy service makes of one request message: the request, or why it is refused. A
/// message Moat cannot read is the request's own fault, answered 400 (docs/envoy.md, "Request
/// faults"), never a gRPC error (which `failure_mode_allow` would turn into an allow).
enum EnvoyCheckInput: Sendable {
    case request(EnvoyCheckRequest)
    case refused(HTTPMappingError)
}

/// grpc-swift's deserializer for `envoy.service.auth.v3.CheckRequest`, over protobuf-c. Never throws.
struct EnvoyCheckDeserializer: MessageDeserializer {
    /// The headers and context extensions the mapping reads.
    static let headers: Set<String> = ["authorization", "x-forwarded-for", "x-request-id"]
    static let extensions: Set<String> = [
        HTTPCheckMapping.Extension.vault, HTTPCheckMapping.Extension.subnet, HTTPCheckMapping.Extension.privateEndpoint,
    ]

    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) -> EnvoyCheckInput {
        let count = serializedMessageBytes.count
        guard count <= EnvoyConfiguration.maximumRequestBytes else {
            return .refused(
                HTTPMappingError(
                    "The check request is \(count) bytes, over Moat's limit of \(EnvoyConfiguration.maximumRequestBytes)."
                )
            )
        }
        let payload = serializedMessageBytes.withUnsafeBytes { ByteBuffer(bytes: $0) }
        do {
            return .request(
                try EnvoyCheckRequest(wirePayload: payload, headers: Self.headers, extensions: Self.extensions)
            )
        } catch {
            return .refused(HTTPMappingError("The check request cannot be read: \(error.message)."))
        }
    }
}

/// grpc-swift's serializer for `envoy.service.auth.v3.CheckResponse`, over protobuf-c.
struct EnvoyCheckSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: EnvoyCheckResponse) -> Bytes {
        var buffer = ByteBuffer()
        message.encode(into: &buffer)
        return Bytes(buffer.readableBytesView)
    }
}
