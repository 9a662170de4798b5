import MoatCore
import MoatTestSupport
import MoatWire
import NIOCore
import Testing

/// The control-socket messages other than `ApplyChangeRequest` (see `DocumentChangeWireTests`).
@Suite struct ControlMessageTests {
    @Test(arguments: [
        PutDocumentRequest(document: []),
        PutDocumentRequest(document: Fixtures.documentBytes, expectedRevision: "3fa2c1d0e9b87a65", dryRun: true),
        PutDocumentRequest(document: Array(repeating: 0x20, count: 300_000), dryRun: false),
        PutDocumentRequest(document: [0], expectedRevision: "r", dryRun: true),
    ])
    func putDocumentRoundTrips(request: PutDocumentRequest) throws {
        #expect(try PutDocumentRequest(wirePayload: try request.payload()) == request)
    }

    /// Pins the encoding to control.proto's field numbers; the document is bytes, so a NUL and
    /// invalid UTF-8 in it travel unchecked.
    @Test func putDocumentMatchesHandBuiltBytes() throws {
        let request = PutDocumentRequest(document: Fixtures.documentBytes, expectedRevision: "abc", dryRun: true)
        let bytes = ProtobufBytes().bytes(1, Fixtures.documentBytes).string(2, "abc").varint(3, 1)
        #expect(try request.payload() == bytes.buffer)
        #expect(try PutDocumentRequest(wirePayload: bytes.buffer) == request)
    }

    @Test(arguments: [
        ChangeResponse(changed: false, revision: Revision(sequence: 0, hash: "")),
        ChangeResponse(changed: true, revision: Fixtures.revision, summary: "added IP rule 203.0.113.0/24 to 'v'"),
        ChangeResponse(changed: true, revision: Revision(sequence: .max, hash: "ffffffffffffffff"), summary: "ключ 🔑"),
    ])
    func changeResponseRoundTrips(response: ChangeResponse) throws {
        #expect(try ChangeResponse(wirePayload: try response.payload()) == response)
    }

    @Test func changeResponseMatchesHandBuiltBytes() throws {
        let response = ChangeResponse(changed: true, revision: Revision(sequence: 3, hash: "abc"), summary: "s")
        let bytes = ProtobufBytes().varint(1, 1).message(2, ProtobufBytes().varint(1, 3).string(2, "abc"))
            .string(3, "s")
        #expect(try response.payload() == bytes.buffer)
        #expect(try ChangeResponse(wirePayload: bytes.buffer) == response)
        // The revision is always sent, even when it is the zero revision.
        #expect(
            try ChangeResponse(changed: false, revision: Revision(sequence: 0, hash: "")).payload()
                == ProtobufBytes().message(2, ProtobufBytes()).buffer
        )
    }

    @Test(arguments: [
        GetDocumentRequest(), GetDocumentRequest(vault: "contoso-prod"), GetDocumentRequest(vault: "ключ"),
    ])
    func getDocumentRequestRoundTrips(request: GetDocumentRequest) throws {
        #expect(try GetDocumentRequest(wirePayload: try request.payload()) == request)
    }

    @Test(arguments: [
        GetDocumentResponse(document: [], revision: Revision(sequence: 0, hash: "")),
        GetDocumentResponse(document: Fixtures.documentBytes, revision: Fixtures.revision),
        GetDocumentResponse(document: Array(repeating: 0x7b, count: 1 << 20), revision: Fixtures.revision),
    ])
    func getDocumentResponseRoundTrips(response: GetDocumentResponse) throws {
        #expect(try GetDocumentResponse(wirePayload: try response.payload()) == response)
    }

    @Test func getDocumentMatchesHandBuiltBytes() throws {
        let request = GetDocumentRequest(vault: "v")
        #expect(try request.payload() == ProtobufBytes().string(1, "v").buffer)
        let response = GetDocumentResponse(document: [0x7b, 0x7d], revision: Revision(sequence: 9, hash: "h"))
        let bytes = ProtobufBytes().bytes(1, [0x7b, 0x7d]).message(2, ProtobufBytes().varint(1, 9).string(2, "h"))
        #expect(try response.payload() == bytes.buffer)
        #expect(try GetDocumentResponse(wirePayload: bytes.buffer) == response)
    }

    @Test(arguments: Fixtures.statusResponses)
    func statusResponseRoundTrips(response: StatusResponse) throws {
        #expect(try StatusResponse(wirePayload: try response.payload()) == response)
    }

    @Test func keysMessagesRoundTrip() throws {
        let response = KeysResponse(tenants: Fixtures.tenantKeys)
        #expect(try KeysResponse(wirePayload: try response.payload()) == response)
        #expect(try KeysResponse(wirePayload: ByteBuffer()) == KeysResponse(tenants: []))
        #expect(try KeysListRequest().payload().readableBytes == 0)
        #expect(try KeysListRequest(wirePayload: ByteBuffer()) == KeysListRequest())
        for request in [KeysRefreshRequest(), KeysRefreshRequest(tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47")] {
            #expect(try KeysRefreshRequest(wirePayload: try request.payload()) == request)
        }
        // tenant_id (1) and key_ids (3) as protoc writes them.
        let bytes = ProtobufBytes().message(1, ProtobufBytes().string(1, "t").string(3, "a").string(3, "b"))
        #expect(
            try KeysResponse(wirePayload: bytes.buffer)
                == KeysResponse(tenants: [TenantKeysStatus(tenantId: "t", keyIDs: ["a", "b"], origin: "")])
        )
    }

    @Test func statusResponseMatchesHandBuiltBytes() throws {
        let response = StatusResponse(
            ready: true,
            notReadyReason: "n",
            revision: Revision(sequence: 2, hash: "h2"),
            loadedAtUnixMillis: 1000,
            rulesFile: "f",
            uptimeSeconds: 60,
            vaults: 1,
            ipRules: 2,
            virtualNetworkRules: 3,
            accessPolicies: 4,
            roleAssignments: 5,
            history: [Revision(sequence: 1, hash: "h1"), Revision(sequence: 0, hash: "h0")],
            reloadFailures: 6,
            lastReloadError: "e"
        )
        let bytes = ProtobufBytes().varint(1, 1).string(2, "n").message(3, ProtobufBytes().varint(1, 2).string(2, "h2"))
            .varint(4, 1000).string(5, "f").varint(6, 60).varint(7, 1).varint(8, 2).varint(9, 3).varint(10, 4)
            .varint(11, 5).message(12, ProtobufBytes().varint(1, 1).string(2, "h1"))
            .message(12, ProtobufBytes().string(2, "h0")).varint(13, 6).string(14, "e")
        #expect(try response.payload() == bytes.buffer)
        #expect(try StatusResponse(wirePayload: bytes.buffer) == response)
    }

    @Test(
        arguments: [
            (-1, 0),
            (Int.min, 0),
            (Int(UInt32.max), UInt64(UInt32.max)),
            (Int(UInt32.max) + 1, UInt64(UInt32.max)),
            (Int.max, UInt64(UInt32.max)),
        ] as [(Int, UInt64)]
    )
    func statusCountsOutsideUInt32AreClamped(count: Int, sent: UInt64) throws {
        let payload = try StatusResponse(ready: false, vaults: count).payload()
        #expect(payload == (sent == 0 ? ProtobufBytes() : ProtobufBytes().varint(7, sent)).buffer)
    }

    @Test(arguments: [RollbackRequest(), RollbackRequest(revisionHash: "00112233445566ff")])
    func rollbackRoundTrips(request: RollbackRequest) throws {
        #expect(try RollbackRequest(wirePayload: try request.payload()) == request)
        #expect(
            try request.payload()
                == (request.revisionHash.map { ProtobufBytes().string(1, $0) } ?? ProtobufBytes()).buffer
        )
    }

    @Test(arguments: [
        MetricsResponse(text: ""),
        MetricsResponse(text: "# TYPE moat_checks_total counter\nmoat_checks_total{decision=\"allow\"} 12\n"),
        MetricsResponse(text: String(repeating: "moat_x 1\n", count: 20_000)),
    ])
    func metricsResponseRoundTrips(response: MetricsResponse) throws {
        #expect(try MetricsResponse(wirePayload: try response.payload()) == response)
        #expect(
            try response.payload()
                == (response.text.isEmpty ? ProtobufBytes() : ProtobufBytes().string(1, response.text)).buffer
        )
    }

    /// StatusRequest, ReloadRequest and MetricsRequest have no fields: they encode to nothing and
    /// skip fields a later version may add.
    @Test func emptyRequestsTravelAsNothing() throws {
        let future = ProtobufBytes().string(1, "future").varint(2, 1).buffer
        #expect(try StatusRequest().payload().readableBytes == 0)
        #expect(try StatusRequest(wirePayload: ByteBuffer()) == StatusRequest())
        #expect(try StatusRequest(wirePayload: future) == StatusRequest())
        #expect(try ReloadRequest().payload().readableBytes == 0)
        #expect(try ReloadRequest(wirePayload: ByteBuffer()) == ReloadRequest())
        #expect(try ReloadRequest(wirePayload: future) == ReloadRequest())
        #expect(try MetricsRequest().payload().readableBytes == 0)
        #expect(try MetricsRequest(wirePayload: ByteBuffer()) == MetricsRequest())
        #expect(try MetricsRequest(wirePayload: future) == MetricsRequest())
    }

    /// proto3 "zero means absent": an empty optional string is not sent and decodes as `nil`; a
    /// missing revision is `nil` in a status and the zero revision in the other answers.
    @Test func absentFieldsDecodeAsDefaults() throws {
        let empty = ByteBuffer()
        #expect(try PutDocumentRequest(wirePayload: empty) == PutDocumentRequest(document: []))
        #expect(
            try ChangeResponse(wirePayload: empty)
                == ChangeResponse(changed: false, revision: .init(sequence: 0, hash: ""))
        )
        #expect(try GetDocumentRequest(wirePayload: empty) == GetDocumentRequest(vault: nil))
        #expect(
            try GetDocumentResponse(wirePayload: empty)
                == GetDocumentResponse(document: [], revision: .init(sequence: 0, hash: ""))
        )
        #expect(try StatusResponse(wirePayload: empty) == StatusResponse(ready: false))
        #expect(try StatusResponse(wirePayload: empty).revision == nil)
        #expect(try RollbackRequest(wirePayload: empty) == RollbackRequest(revisionHash: nil))
        #expect(try MetricsResponse(wirePayload: empty) == MetricsResponse(text: ""))

        #expect(try PutDocumentRequest(document: [], expectedRevision: "").payload().readableBytes == 0)
        #expect(try GetDocumentRequest(vault: "").payload().readableBytes == 0)
        #expect(try RollbackRequest(revisionHash: "").payload().readableBytes == 0)
        let status = StatusResponse(ready: false, notReadyReason: "", lastReloadError: "")
        #expect(try status.payload().readableBytes == 0)
        #expect(try StatusResponse(wirePayload: try status.payload()).notReadyReason == nil)
        #expect(try StatusResponse(wirePayload: try status.payload()).lastReloadError == nil)
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        let message: String
        let decode: @Sendable (ByteBuffer) throws -> Void
        let bytes: ProtobufBytes
        let field: String

        init<Message: WireMessage>(_ type: Message.Type, bytes: ProtobufBytes, field: String) {
            message = "\(type)"
            decode = { _ = try Message(wirePayload: $0) }
            self.bytes = bytes
            self.field = field
        }

        var testDescription: String { "\(message) \(field)" }
    }

    static let refusedStrings: [Refusal] = [
        Refusal(
            PutDocumentRequest.self,
            bytes: ProtobufBytes().bytes(1, [0xff, 0]).bytes(2, [0x61, 0xff]),
            field: "expected_revision"
        ),
        Refusal(
            PutDocumentRequest.self,
            bytes: ProtobufBytes().bytes(2, [0x61, 0]),
            field: "expected_revision"
        ),
        Refusal(
            ChangeResponse.self,
            bytes: ProtobufBytes().message(2, ProtobufBytes().bytes(2, [0xc0, 0xaf])),
            field: "revision.hash"
        ),
        Refusal(
            ChangeResponse.self,
            bytes: ProtobufBytes().varint(1, 1).bytes(3, Array("a\u{0}".utf8)),
            field: "summary"
        ),
        Refusal(
            GetDocumentRequest.self,
            bytes: ProtobufBytes().bytes(1, [0xed, 0xa0, 0x80]),
            field: "vault"
        ),
        Refusal(
            GetDocumentResponse.self,
            bytes: ProtobufBytes().bytes(1, [0xff]).message(2, ProtobufBytes().bytes(2, [0])),
            field: "revision.hash"
        ),
        Refusal(
            StatusResponse.self,
            bytes: ProtobufBytes().bytes(2, [0x80]),
            field: "not_ready_reason"
        ),
        Refusal(
            StatusResponse.self,
            bytes: ProtobufBytes().string(5, "ok").bytes(5, [0xfe]),
            field: "rules_file"
        ),
        Refusal(
            StatusResponse.self,
            bytes: ProtobufBytes().message(12, ProtobufBytes()).message(12, ProtobufBytes().string(2, "h"))
                .message(12, ProtobufBytes().bytes(2, [0x41, 0xe2, 0x82])),
            field: "history[2].hash"
        ),
        Refusal(
            StatusResponse.self,
            bytes: ProtobufBytes().bytes(14, [0, 0]),
            field: "last_reload_error"
        ),
        Refusal(
            RollbackRequest.self,
            bytes: ProtobufBytes().bytes(1, [0xf4, 0x90, 0x80, 0x80]),
            field: "revision_hash"
        ),
        Refusal(
            MetricsResponse.self,
            bytes: ProtobufBytes().bytes(1, Array("moat_x 1\n\u{0}".utf8)),
            field: "text"
        ),
    ]

    @Test(arguments: refusedStrings)
    func refusesNulAndInvalidUTF8(refusal: Refusal) {
        let error = #expect(throws: MessageCodingError.self) { try refusal.decode(refusal.bytes.buffer) }
        #expect(error?.code == .invalidString)
        #expect(error?.field == refusal.field)
        #expect(error?.message == "field '\(refusal.field)' holds a NUL byte or invalid UTF-8")
    }

    static let unencodable: [(any WireMessage, String)] = [
        (PutDocumentRequest(document: [0], expectedRevision: "r\u{0}"), "expected_revision"),
        (ChangeResponse(changed: true, revision: Fixtures.revision, summary: "a\u{0}b"), "summary"),
        (GetDocumentRequest(vault: "v\u{0}"), "vault"),
        (StatusResponse(ready: false, notReadyReason: "\u{0}"), "not_ready_reason"),
        (StatusResponse(ready: true, rulesFile: "/etc/\u{0}"), "rules_file"),
        (StatusResponse(ready: true, lastReloadError: "e\u{0}"), "last_reload_error"),
        (RollbackRequest(revisionHash: "\u{0}"), "revision_hash"),
        (MetricsResponse(text: "a 1\n\u{0}"), "text"),
    ]

    @Test(arguments: unencodable)
    func refusesToEncodeNul(message: any WireMessage, field: String) {
        var buffer = ByteBuffer()
        let error = #expect(throws: MessageCodingError.self) { try message.encode(into: &buffer) }
        #expect(error?.code == .invalidString)
        #expect(error?.field == field)
        #expect(
            error?.message == "field '\(field)' holds a NUL byte, which the protobuf encoding used here cannot carry"
        )
    }
}
