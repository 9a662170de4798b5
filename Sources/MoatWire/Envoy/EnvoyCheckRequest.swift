internal import CMoatProto
package import NIOCore

/// `envoy.service.auth.v3.CheckRequest`, as far as Moat reads it (docs/envoy.md).
///
/// Only the headers and context extensions asked for are kept, and only they are checked for
/// UTF-8 (header values are `bytes` in Moat's copy of the proto): a header Moat does not read never
/// refuses a request. The strings Moat reads (method, path, host, the peer's address) are checked
/// by the codec before unpacking, as every protobuf-c string is.
package struct EnvoyCheckRequest: Sendable, Hashable {
    /// `attributes.request.http.id` (Envoy's `x-request-id`).
    package var id: String
    package var method: String
    /// The request target: path and query, not decoded.
    package var path: String
    package var host: String
    /// The headers asked for that the request has, by lowercased name.
    package var headers: [String: String]
    /// The names of the request's headers that start with `x-moat-`.
    package var moatHeaderNames: [String]
    /// `attributes.source.address.socket_address.address`; "" when the peer is not a socket address.
    package var sourceAddress: String
    /// The context extensions asked for that the route sets.
    package var contextExtensions: [String: String]

    package init(
        id: String = "",
        method: String = "",
        path: String = "",
        host: String = "",
        headers: [String: String] = [:],
        moatHeaderNames: [String] = [],
        sourceAddress: String = "",
        contextExtensions: [String: String] = [:]
    ) {
        self.id = id
        self.method = method
        self.path = path
        self.host = host
        self.headers = headers
        self.moatHeaderNames = moatHeaderNames
        self.sourceAddress = sourceAddress
        self.contextExtensions = contextExtensions
    }

    /// Decodes `payload`, keeping the headers named in `headers` (lowercase) and the context
    /// extensions named in `extensions`.
    package init(
        wirePayload payload: ByteBuffer,
        headers wanted: Set<String>,
        extensions wantedExtensions: Set<String>
    ) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Envoy__Service__Auth__V3__CheckRequest.self, from: payload) {
            message throws(MessageCodingError) in
            var request = EnvoyCheckRequest()
            guard let attributes = message.attributes?.pointee else { return request }
            if let address = attributes.source?.pointee.address?.pointee,
                address.address_case == ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS
            {
                request.sourceAddress = CString.string(address.socket_address?.pointee.address)
            }
            for index in 0..<attributes.n_context_extensions {
                guard let entry = attributes.context_extensions[index]?.pointee else { continue }
                let key = CString.string(entry.key)
                guard wantedExtensions.contains(key) else { continue }
                request.contextExtensions[key] = try EnvoyCheckRequest.utf8(
                    entry.value,
                    field: "attributes.context_extensions[\(key)]"
                )
            }
            guard let http = attributes.request?.pointee.http?.pointee else { return request }
            request.id = CString.string(http.id)
            request.method = CString.string(http.method)
            request.path = CString.string(http.path)
            request.host = CString.string(http.host)
            for index in 0..<http.n_headers {
                guard let entry = http.headers[index]?.pointee else { continue }
                let name = CString.string(entry.key)
                if name.utf8.starts(with: "x-moat-".utf8) { request.moatHeaderNames.append(name) }
                guard wanted.contains(name) else { continue }
                request.headers[name] = try EnvoyCheckRequest.utf8(
                    entry.value,
                    field: "attributes.request.http.headers[\(name)]"
                )
            }
            return request
        }
    }

    /// The field's bytes as text, validated where protobuf-c holds them; `field` (which names the
    /// field in the error) is built only for an error.
    private static func utf8(
        _ data: ProtobufCBinaryData,
        field: @autoclosure () -> String
    ) throws(MessageCodingError) -> String {
        let bytes = UnsafeBufferPointer(start: data.data, count: data.data == nil ? 0 : data.len)
        guard !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else {
            throw .invalidString(field: field())
        }
        return text
    }
}
