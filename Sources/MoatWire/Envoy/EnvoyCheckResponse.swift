internal import CMoatProto
package import NIOCore

/// `envoy.service.auth.v3.CheckResponse`, as moatd answers (docs/envoy.md, "Answers").
package struct EnvoyCheckResponse: Sendable, Hashable {
    package enum HTTPResponse: Sendable, Hashable {
        /// `ok_response`: the request goes upstream with `headers` set (overwriting what the client
        /// sent) and `headersToRemove` removed.
        case ok(headersToRemove: [String])
        /// `denied_response`: Envoy answers the client with this status and body.
        case denied(status: Int, body: String)
        /// `error_response`: the service could not decide; Envoys that know the field answer with it.
        case error(status: Int, body: String)
    }

    /// A gRPC status code (`google.rpc.Status.code`): 0 for an allow.
    package var status: Int32
    package var statusMessage: String
    package var httpResponse: HTTPResponse
    /// Upstream request headers on an allow; response headers otherwise. Lowercased names.
    package var headers: [Header]
    /// `dynamic_metadata`: string values only; empty ones are left out.
    package var metadata: [Header]

    package struct Header: Sendable, Hashable {
        package var name: String
        package var value: String

        package init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    package init(
        status: Int32,
        statusMessage: String = "",
        httpResponse: HTTPResponse,
        headers: [Header] = [],
        metadata: [Header] = []
    ) {
        self.status = status
        self.statusMessage = statusMessage
        self.httpResponse = httpResponse
        self.headers = headers
        self.metadata = metadata
    }

    /// Longest string Moat packs into one field (the JSON body, a header value).
    static let stringLimit = 64 * 1024

    /// Appends the encoding to `buffer`. Never fails: strings are packed as
    /// `PackingArena.setPackable` makes them packable.
    package func encode(into buffer: inout ByteBuffer) {
        ProtobufCCodec.encode(Envoy__Service__Auth__V3__CheckResponse.self, into: &buffer) { message, arena in
            let status = arena.message(Google__Rpc__Status.self)
            status.pointee.code = self.status
            arena.setPackable(&status.pointee.message, statusMessage, limit: Self.stringLimit)
            message.pointee.status = status
            let headerOptions = Self.headerOptions(headers, &arena)
            switch httpResponse {
            case .ok(let headersToRemove):
                let ok = arena.message(Envoy__Service__Auth__V3__OkHttpResponse.self)
                ok.pointee.n_headers = headers.count
                ok.pointee.headers = headerOptions
                let names = arena.pointers(to: CChar.self, count: headersToRemove.count)
                for (index, name) in headersToRemove.enumerated() {
                    arena.setPackable(&names[index], name, limit: Self.stringLimit)
                }
                ok.pointee.n_headers_to_remove = headersToRemove.count
                ok.pointee.headers_to_remove = names
                message.pointee.http_response_case = ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_OK_RESPONSE
                message.pointee.ok_response = ok
            case .denied(let code, let body), .error(let code, let body):
                let denied = arena.message(Envoy__Service__Auth__V3__DeniedHttpResponse.self)
                let httpStatus = arena.message(Envoy__Type__V3__HttpStatus.self)
                httpStatus.pointee.code = Envoy__Type__V3__StatusCode(rawValue: UInt32(clamping: code))
                denied.pointee.status = httpStatus
                denied.pointee.n_headers = headers.count
                denied.pointee.headers = headerOptions
                arena.setPackable(&denied.pointee.body, body, limit: Self.stringLimit)
                if case .denied = httpResponse {
                    message.pointee.http_response_case =
                        ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_DENIED_RESPONSE
                    message.pointee.denied_response = denied
                } else {
                    message.pointee.http_response_case =
                        ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_ERROR_RESPONSE
                    message.pointee.error_response = denied
                }
            }
            // Empty values are left out: a oneof string needs a value to be packed.
            let metadata = self.metadata.filter { !$0.name.isEmpty && !$0.value.isEmpty }
            guard !metadata.isEmpty else { return }
            let fields = arena.message(Google__Protobuf__Struct.self)
            let entries = arena.pointers(to: Google__Protobuf__Struct__FieldsEntry.self, count: metadata.count)
            for (index, field) in metadata.enumerated() {
                let entry = arena.message(Google__Protobuf__Struct__FieldsEntry.self)
                arena.setPackable(&entry.pointee.key, field.name, limit: Self.stringLimit)
                let value = arena.message(Google__Protobuf__Value.self)
                value.pointee.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE
                arena.setPackable(&value.pointee.string_value, field.value, limit: Self.stringLimit)
                entry.pointee.value = value
                entries[index] = entry
            }
            fields.pointee.n_fields = metadata.count
            fields.pointee.fields = entries
            message.pointee.dynamic_metadata = fields
        }
    }

    /// Each header as a `HeaderValueOption` that overwrites a header of the same name.
    private static func headerOptions(
        _ headers: [Header],
        _ arena: inout PackingArena
    ) -> UnsafeMutablePointer<UnsafeMutablePointer<Envoy__Config__Core__V3__HeaderValueOption>?> {
        let options = arena.pointers(to: Envoy__Config__Core__V3__HeaderValueOption.self, count: headers.count)
        for (index, header) in headers.enumerated() {
            let option = arena.message(Envoy__Config__Core__V3__HeaderValueOption.self)
            let value = arena.message(Envoy__Config__Core__V3__HeaderValue.self)
            arena.setPackable(&value.pointee.key, header.name, limit: stringLimit)
            arena.setPackable(&value.pointee.value, header.value, limit: stringLimit)
            option.pointee.header = value
            option.pointee.append_action =
                ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS_OR_ADD
            options[index] = option
        }
        return options
    }
}
