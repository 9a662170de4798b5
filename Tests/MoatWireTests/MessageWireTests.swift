import MoatCore
import MoatTestSupport
import MoatWire
import NIOCore
import Testing

/// The batch messages, Ping/Pong and Error.
@Suite struct MessageWireTests {
    @Test(arguments: [
        CheckBatchRequest(requests: []),
        CheckBatchRequest(requests: [CheckRequest()]),
        CheckBatchRequest(requests: Fixtures.requests),
        CheckBatchRequest(requests: Array(repeating: Fixtures.requests[1], count: CheckBatchRequest.maximumCount)),
    ])
    func batchRequestRoundTrips(batch: CheckBatchRequest) throws {
        #expect(try CheckBatchRequest(wirePayload: try batch.payload()) == batch)
    }

    @Test(arguments: [
        CheckBatchResponse(items: []),
        CheckBatchResponse(items: Fixtures.decisions.map { .decision($0) }),
        CheckBatchResponse(items: Array(repeating: .decision(Fixtures.decisions[2]), count: 1024)),
        CheckBatchResponse(items: [
            .decision(Fixtures.decisions[0]),
            .error(StatusError(code: .invalidArgument, message: "field 'requests[1].vault' holds a NUL byte")),
            .error(StatusError(code: .deadlineExceeded, message: "late")),
            .decision(Fixtures.decisions[1]),
        ]),
    ])
    func batchResponseRoundTrips(batch: CheckBatchResponse) throws {
        #expect(try CheckBatchResponse(wirePayload: try batch.payload()) == batch)
    }

    @Test(arguments: [
        (
            ProtobufBytes().message(1, ProtobufBytes().string(1, "a")).message(1, ProtobufBytes())
                .message(1, ProtobufBytes().bytes(1, Array("a\u{0}b".utf8))),
            "requests[2].vault"
        ),
        (
            ProtobufBytes().message(1, ProtobufBytes())
                .message(1, ProtobufBytes().message(10, ProtobufBytes().string(4, "ok").bytes(4, [0xff]))),
            "requests[1].asserted_identity.groups[1]"
        ),
    ])
    func batchRequestRefusesBadStrings(bytes: ProtobufBytes, field: String) {
        let error = #expect(throws: MessageCodingError.self) { try CheckBatchRequest(wirePayload: bytes.buffer) }
        #expect(error?.code == .invalidString)
        #expect(error?.field == field)
    }

    @Test func batchRequestRefusesToEncodeNul() {
        let batch = CheckBatchRequest(requests: [CheckRequest(vault: "a"), CheckRequest(token: "t\u{0}")])
        var buffer = ByteBuffer()
        let error = #expect(throws: MessageCodingError.self) { try batch.encode(into: &buffer) }
        #expect(error?.field == "requests[1].token")
        #expect(
            error?.message
                == "field 'requests[1].token' holds a NUL byte, which the protobuf encoding used here cannot carry"
        )
    }

    @Test func batchResponseWithOneUndecidedAnswerIsRefused() throws {
        var bytes = ProtobufBytes()
        for decision in Fixtures.decisions.prefix(2) {
            bytes = bytes.bytes(1, Array(try decision.payload().readableBytesView))
        }
        bytes = bytes.message(1, ProtobufBytes().varint(2, 200))
        let error = #expect(throws: MessageCodingError.self) { try CheckBatchResponse(wirePayload: bytes.buffer) }
        #expect(error?.code == .noDecision)
        #expect(error?.field == "responses[2].decision")
    }

    /// Issue 8: an item that could not be decided is a `CheckResponse` with DECISION_UNSPECIFIED and
    /// `error` (field 13) set, so that clients that predate it read "could not decide".
    @Test func batchResponseErrorItemOnTheWire() throws {
        let batch = CheckBatchResponse(items: [.error(StatusError(code: .deadlineExceeded, message: "late"))])
        let expected = ProtobufBytes().message(
            1,
            ProtobufBytes().message(13, ProtobufBytes().varint(1, 4).string(2, "late"))
        )
        #expect(try batch.payload() == expected.buffer)
        // What a client that reads it as a plain CheckResponse sees: no decision.
        let item = #expect(throws: MessageCodingError.self) {
            try Decision(wirePayload: ProtobufBytes().message(13, ProtobufBytes().varint(1, 4)).buffer)
        }
        #expect(item?.code == .noDecision)
    }

    @Test(arguments: [
        // A decision and an error on one item.
        (ProtobufBytes().varint(1, 2).message(13, ProtobufBytes().varint(1, 3)), "responses[0].error"),
        // An error whose code is OK.
        (ProtobufBytes().message(13, ProtobufBytes().string(2, "m")), "responses[0].error.code"),
        // An error whose code is not a status code.
        (ProtobufBytes().message(13, ProtobufBytes().varint(1, 70_000)), "responses[0].error.code"),
    ])
    func batchResponseRefusesContradictoryItems(item: ProtobufBytes, field: String) {
        let bytes = ProtobufBytes().message(1, item)
        let error = #expect(throws: MessageCodingError.self) { try CheckBatchResponse(wirePayload: bytes.buffer) }
        #expect(error?.code == .invalidValue)
        #expect(error?.field == field)
    }

    /// Issue 8: one request that does not decode fails alone; the others of the batch decode.
    @Test func batchRequestItemsDecodeOneByOne() throws {
        let bytes = ProtobufBytes()
            .message(1, ProtobufBytes().string(1, "a"))
            .message(1, ProtobufBytes().bytes(1, Array("a\u{0}b".utf8)))
            .message(1, ProtobufBytes().bytes(7, [0xff]))
            .message(1, ProtobufBytes().bytes(1, [0xff]))
            .message(1, ProtobufBytes().string(1, "e"))
        let items = try CheckBatchRequest.items(wirePayload: bytes.buffer)
        #expect(items.count == 5)
        #expect(try items[0].get() == CheckRequest(vault: "a"))
        #expect(try items[4].get() == CheckRequest(vault: "e"))
        let errors = items.map { item -> MessageCodingError? in
            if case .failure(let error) = item { return error }
            return nil
        }
        #expect(errors.map(\.?.field) == [nil, "requests[1].vault", "requests[2].token", "requests[3].vault", nil])
        #expect(errors[1]?.message == "field 'requests[1].vault' holds a NUL byte or invalid UTF-8")
        // An item that is not a CheckRequest at all (a truncated varint) is named too.
        let malformed = try CheckBatchRequest.items(
            wirePayload: ProtobufBytes().message(1, ProtobufBytes()).bytes(1, [0x08]).buffer
        )
        guard case .failure(let error) = malformed[1] else {
            Issue.record("a malformed item decoded: \(malformed)")
            return
        }
        #expect(error.code == .malformedPayload && error.field == "requests[1]")
        #expect(error.message == "field 'requests[1]': payload does not decode as moat.v1.CheckRequest")
    }

    /// Issue 8, L9: the requests are counted before any is unpacked. 1025 items that would not
    /// even decode are refused for their number, not for their content.
    @Test func batchRequestCountsBeforeUnpacking() throws {
        var bytes = ProtobufBytes()
        for _ in 0...CheckBatchRequest.maximumCount { bytes = bytes.bytes(1, [0x08]) }
        let error = #expect(throws: MessageCodingError.self) { try CheckBatchRequest.items(wirePayload: bytes.buffer) }
        #expect(error?.code == .tooManyItems)
        #expect(error?.message == "field 'requests' holds 1025 items; at most 1024 are accepted")
        var fits = ProtobufBytes()
        for _ in 0..<CheckBatchRequest.maximumCount { fits = fits.message(1, ProtobufBytes()) }
        #expect(try CheckBatchRequest.items(wirePayload: fits.buffer).count == CheckBatchRequest.maximumCount)
        // Bytes that are not a batch, or a `requests` field that is not length-delimited.
        for garbage in [ByteBuffer(bytes: [0x0a, 0x05, 0x00]), ProtobufBytes().varint(1, 1).buffer] {
            let refused = #expect(throws: MessageCodingError.self) { try CheckBatchRequest.items(wirePayload: garbage) }
            #expect(refused?.code == .malformedPayload, "\(garbage)")
        }
    }

    /// Issue 8: an error answer always encodes, whatever it echoes.
    @Test func statusErrorEncodingIsTotal() throws {
        let error = StatusError(
            code: .invalidArgument,
            message: "vault 'a\u{0}b' not found",
            details: [StatusError.Detail(path: "vaults[0].name", message: String(repeating: "x", count: 10_000))]
        )
        let decoded = try StatusError(wirePayload: try error.payload())
        #expect(decoded.message == "vault 'a\u{FFFD}b' not found")
        #expect(decoded.details[0].message.utf8.count == StatusError.maximumWireStringBytes)
        #expect(decoded.details[0].message.hasSuffix("…"))
    }

    @Test func pingRoundTrips() throws {
        #expect(try Ping().payload().readableBytes == 0)
        #expect(try Ping(wirePayload: ByteBuffer()) == Ping())
        // Fields a later version may add are skipped.
        #expect(try Ping(wirePayload: ProtobufBytes().string(1, "future").buffer) == Ping())
    }

    @Test(arguments: [
        Pong(ready: false),
        Pong(ready: true, revision: Fixtures.revision),
        Pong(ready: false, revision: Revision(sequence: 0, hash: "")),
        Pong(ready: true, revision: Revision(sequence: .max, hash: "ffffffffffffffff")),
    ])
    func pongRoundTrips(pong: Pong) throws {
        #expect(try Pong(wirePayload: try pong.payload()) == pong)
    }

    @Test func pongMatchesHandBuiltBytes() throws {
        let bytes = ProtobufBytes().varint(1, 1).message(2, ProtobufBytes().varint(1, 3).string(2, "abc"))
        #expect(try Pong(ready: true, revision: Revision(sequence: 3, hash: "abc")).payload() == bytes.buffer)
    }

    @Test(arguments: [
        StatusError(code: .unavailable, message: "no rules loaded"),
        StatusError(code: .ok, message: ""),
        StatusError(code: StatusCode(rawValue: 65_535), message: "x"),
        StatusError(
            code: .invalidArgument,
            message: "the document has 2 errors",
            details: [
                StatusError.Detail(path: "$", message: "no tenants"),
                StatusError.Detail(path: "vaults[0].properties.networkAcls.ipRules[3].value", message: "not a CIDR"),
                StatusError.Detail(path: "", message: ""),
            ]
        ),
    ])
    func statusErrorRoundTrips(error: StatusError) throws {
        #expect(try StatusError(wirePayload: try error.payload()) == error)
    }

    @Test func statusErrorMatchesHandBuiltBytes() throws {
        let error = StatusError(code: .notFound, message: "m", details: [.init(path: "p", message: "d")])
        let bytes = ProtobufBytes().varint(1, 5).string(2, "m").message(
            3,
            ProtobufBytes().string(1, "p").string(2, "d")
        )
        #expect(try error.payload() == bytes.buffer)
    }

    @Test(arguments: [
        (ProtobufBytes().varint(1, 65_536), MessageCodingError.Code.invalidValue, "code"),
        (
            ProtobufBytes().message(3, ProtobufBytes().bytes(1, [0x61, 0]))
                .message(3, ProtobufBytes()), .invalidString, "details[0].path"
        ),
        (
            ProtobufBytes().message(3, ProtobufBytes()).message(3, ProtobufBytes().bytes(2, [0xff])),
            .invalidString, "details[1].message"
        ),
    ])
    func statusErrorRefusals(bytes: ProtobufBytes, code: MessageCodingError.Code, field: String) {
        let error = #expect(throws: MessageCodingError.self) { try StatusError(wirePayload: bytes.buffer) }
        #expect(error?.code == code)
        #expect(error?.field == field)
    }
}
