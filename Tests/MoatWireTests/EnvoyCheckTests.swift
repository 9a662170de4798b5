import CMoatProto
import MoatWire
import NIOCore
import Testing

/// A protobuf writer for tests: Envoy's field numbers written by hand, so the decoder is checked
/// against Envoy's API (envoy/service/auth/v3/attribute_context.proto), not against Moat's copy.
private enum Proto {
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        repeat {
            out.append(UInt8(value & 0x7f) | (value >= 0x80 ? 0x80 : 0))
            value >>= 7
        } while value > 0
        return out
    }

    static func field(_ number: UInt64, _ bytes: [UInt8]) -> [UInt8] {
        varint(number << 3 | 2) + varint(UInt64(bytes.count)) + bytes
    }

    static func field(_ number: UInt64, _ text: String) -> [UInt8] { field(number, Array(text.utf8)) }

    static func entry(_ number: UInt64, _ key: String, _ value: [UInt8]) -> [UInt8] {
        field(number, field(1, key) + field(2, value))
    }

    /// An ext_authz CheckRequest as Envoy sends it, with extra fields Moat does not read.
    static func checkRequest(headers: [(String, [UInt8])], extensions: [(String, String)] = []) -> ByteBuffer {
        let socketAddress = field(2, "203.0.113.9") + [0x18, 0xbb, 0x03]  // address, port_value 443
        let source = field(1, field(1, socketAddress)) + field(2, "frontend")  // address, service
        var http = field(1, "req-1") + field(2, "GET") + field(4, "/secrets/s?api-version=7.4")
        http += field(5, "contoso.vault.azure.net") + field(6, "https") + field(10, "HTTP/2")
        for (name, value) in headers { http += entry(3, name, value) }
        var attributes = field(1, source) + field(2, field(4, "spiffe://x")) + field(4, field(2, http))
        for (key, value) in extensions { attributes += entry(10, key, Array(value.utf8)) }
        return ByteBuffer(bytes: field(1, attributes))
    }
}

@Suite("Envoy ext_authz messages")
struct EnvoyCheckTests {
    @Test("a CheckRequest decodes to the fields Moat reads; unknown fields and unread headers are skipped")
    func decode() throws {
        let payload = Proto.checkRequest(
            headers: [
                ("authorization", Array("Bearer a.b.c".utf8)), ("x-moat-decision-id", Array("forged".utf8)),
                ("cookie", [0xff, 0xfe]), ("user-agent", Array("azsdk".utf8)),
            ],
            extensions: [("moat.vault", "payments"), ("other", "x")]
        )
        let request = try EnvoyCheckRequest(
            wirePayload: payload,
            headers: ["authorization", "x-forwarded-for"],
            extensions: ["moat.vault", "moat.subnet"]
        )
        #expect(
            request
                == EnvoyCheckRequest(
                    id: "req-1",
                    method: "GET",
                    path: "/secrets/s?api-version=7.4",
                    host: "contoso.vault.azure.net",
                    headers: ["authorization": "Bearer a.b.c"],
                    moatHeaderNames: ["x-moat-decision-id"],
                    sourceAddress: "203.0.113.9",
                    contextExtensions: ["moat.vault": "payments"]
                )
        )
    }

    @Test("a header Moat reads that is not UTF-8 is refused, naming it; garbage is refused as malformed")
    func refusals() {
        let payload = Proto.checkRequest(headers: [("authorization", [0x42, 0xc3, 0x28])])
        #expect {
            try EnvoyCheckRequest(wirePayload: payload, headers: ["authorization"], extensions: [])
        } throws: { error in
            (error as? MessageCodingError)?.message.contains("headers[authorization]") == true
        }
        #expect(throws: MessageCodingError.self) {
            try EnvoyCheckRequest(wirePayload: ByteBuffer(bytes: [0x0a, 0x05, 0x01]), headers: [], extensions: [])
        }
    }

    @Test("answers encode as Envoy's CheckResponse: status, the oneof, overwriting headers, metadata")
    func encode() throws {
        let denied = EnvoyCheckResponse(
            status: 7,
            statusMessage: "Forbidden",
            httpResponse: .denied(status: 403, body: #"{"error":{}}"#),
            headers: [.init("content-type", "application/json; charset=utf-8")],
            metadata: [.init("decision", "deny"), .init("inner_code", "")]
        )
        try unpacked(denied) { message in
            #expect(message.status.pointee.code == 7)
            #expect(
                message.http_response_case == ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_DENIED_RESPONSE
            )
            let response = message.denied_response.pointee
            #expect(response.status.pointee.code.rawValue == 403)
            #expect(String(cString: response.body) == #"{"error":{}}"#)
            #expect(response.n_headers == 1)
            let header = response.headers[0]!.pointee
            #expect(String(cString: header.header.pointee.key) == "content-type")
            #expect(
                header.append_action
                    == ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS_OR_ADD
            )
            #expect(message.dynamic_metadata.pointee.n_fields == 1)
            let field = message.dynamic_metadata.pointee.fields[0]!.pointee
            #expect(String(cString: field.key) == "decision")
            #expect(String(cString: field.value.pointee.string_value) == "deny")
        }
        let ok = EnvoyCheckResponse(
            status: 0,
            httpResponse: .ok(headersToRemove: ["x-moat-forged"]),
            headers: [.init("x-moat-decision-id", "00ff")]
        )
        try unpacked(ok) { message in
            #expect(message.status.pointee.code == 0)
            #expect(message.http_response_case == ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_OK_RESPONSE)
            #expect(String(cString: message.ok_response.pointee.headers_to_remove[0]!) == "x-moat-forged")
            #expect(message.dynamic_metadata == nil)
        }
        let error = EnvoyCheckResponse(status: 14, httpResponse: .error(status: 503, body: ""))
        try unpacked(error) { message in
            #expect(
                message.http_response_case == ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_ERROR_RESPONSE
            )
            #expect(message.error_response.pointee.status.pointee.code.rawValue == 503)
        }
    }

    private func unpacked(
        _ response: EnvoyCheckResponse,
        _ body: (Envoy__Service__Auth__V3__CheckResponse) -> Void
    ) throws {
        var buffer = ByteBuffer()
        response.encode(into: &buffer)
        let bytes = Array(buffer.readableBytesView)
        let message = try #require(
            bytes.withUnsafeBufferPointer {
                protobuf_c_message_unpack(cmoat_envoy_check_response_descriptor(), nil, $0.count, $0.baseAddress)
            }
        )
        defer { protobuf_c_message_free_unpacked(message, nil) }
        body(UnsafeRawPointer(message).assumingMemoryBound(to: Envoy__Service__Auth__V3__CheckResponse.self).pointee)
    }
}
