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
        CheckBatchResponse(decisions: []),
        CheckBatchResponse(decisions: Fixtures.decisions),
        CheckBatchResponse(decisions: Array(repeating: Fixtures.decisions[2], count: 1024)),
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
