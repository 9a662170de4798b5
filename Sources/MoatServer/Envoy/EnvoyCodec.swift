import MoatKeyVaultHTTP
import MoatWire
import NIOCore

/// What the Envoy service makes of one request message: the request, or why it is refused. A
/// message Moat cannot read is the request's own fault, answered 400 (docs/envoy.md, "Request
/// faults"), never a gRPC error (which `failure_mode_allow` would turn into an allow).
enum EnvoyCheckInput: Sendable {
    case request(EnvoyCheckRequest)
    case refused(HTTPMappingError)

    /// The headers and context extensions the mapping reads.
    static let headers: Set<String> = ["authorization", "x-forwarded-for", "x-request-id"]
    static let extensions: Set<String> = [
        HTTPCheckMapping.Extension.vault, HTTPCheckMapping.Extension.subnet, HTTPCheckMapping.Extension.privateEndpoint,
    ]

    /// `envoy.service.auth.v3.CheckRequest` decoded over protobuf-c, or refused. Never throws.
    init(_ content: GRPCRequestMessage.Content) {
        switch content {
        case .oversized(let count):
            self = .refused(
                HTTPMappingError(
                    "The check request is \(count) bytes, over Moat's limit of \(EnvoyConfiguration.maximumRequestBytes)."
                )
            )
        case .message(let payload):
            do throws(MessageCodingError) {
                self = .request(
                    try EnvoyCheckRequest(wirePayload: payload, headers: Self.headers, extensions: Self.extensions)
                )
            } catch {
                self = .refused(HTTPMappingError("The check request cannot be read: \(error.message)."))
            }
        }
    }
}
