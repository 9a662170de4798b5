import MoatCore
import MoatWire
import NIOCore
import NIOEmbedded
import Testing

@Suite struct FrameTests {
    @Test func payloadIsEncodedInPlace() throws {
        var buffer = ByteBuffer(string: "before")
        let decision = Fixtures.decisions[0]
        let written = try buffer.writeFrame(streamID: 5, method: .check, flags: .response, status: .ok) {
            try decision.encode(into: &$0)
        }
        buffer.moveReaderIndex(forwardBy: 6)
        #expect(written == buffer.readableBytes)
        let frame = try #require(try FrameDecoder(maximumLength: 4096).readFrame(from: &buffer))
        #expect(frame.streamID == 5)
        #expect(frame.isResponse)
        #expect(try Decision(wirePayload: frame.payload) == decision)
    }

    @Test func failedPayloadLeavesNothingWritten() {
        var buffer = ByteBuffer(string: "before")
        #expect(throws: MessageCodingError.self) {
            try buffer.writeFrame(streamID: 5, method: .check) { try CheckRequest(vault: "\u{0}").encode(into: &$0) }
        }
        #expect(buffer == ByteBuffer(string: "before"))
    }

    @Test func respondingEchoesStreamAndMethod() {
        let request = Frame(streamID: 77, method: .checkBatch, payload: ByteBuffer(string: "q"))
        let answer = Frame(respondingTo: request, status: .resourceExhausted, payload: ByteBuffer(string: "e"))
        #expect(answer.streamID == 77)
        #expect(answer.method == .checkBatch)
        #expect(answer.isResponse)
        #expect(!request.isResponse)
        #expect(answer.status == .resourceExhausted)
    }

    @Test(arguments: [
        (UInt8(0), nil as Frame.HeaderViolation?),
        (1, .responseBitInRequest),
        (3, .responseBitInRequest),
        (2, .reservedBits(Frame.Flags(rawValue: 2))),
        (0x80, .reservedBits(Frame.Flags(rawValue: 0x80))),
        (0xfe, .reservedBits(Frame.Flags(rawValue: 0xfe))),
    ])
    func requestFlags(flags: UInt8, violation: Frame.HeaderViolation?) {
        let frame = Frame(streamID: 1, method: .check, flags: Frame.Flags(rawValue: flags))
        #expect(frame.requestHeaderViolation == violation)
        #expect(frame.requestHeaderViolation?.closesConnection == (violation.map { $0 == .responseBitInRequest }))
        #expect(frame.requestHeaderViolation?.status ?? .invalidArgument == .invalidArgument)
    }

    /// A request's status field must be 0: anything else is refused (issue 8), keeping the
    /// connection; flag violations are reported first.
    @Test(arguments: [
        (UInt8(0), UInt16(1), Frame.HeaderViolation.statusInRequest(StatusCode(rawValue: 1))),
        (0, 0xffff, .statusInRequest(StatusCode(rawValue: 0xffff))),
        (2, 13, .reservedBits(Frame.Flags(rawValue: 2))),
        (1, 13, .responseBitInRequest),
    ])
    func requestStatus(flags: UInt8, status: UInt16, violation: Frame.HeaderViolation) {
        let frame = Frame(
            streamID: 1,
            method: .ping,
            flags: Frame.Flags(rawValue: flags),
            status: StatusCode(rawValue: status)
        )
        #expect(frame.requestHeaderViolation == violation)
        #expect(frame.requestHeaderViolation?.closesConnection == (violation == .responseBitInRequest))
        #expect(frame.requestHeaderViolation?.status == .invalidArgument)
    }

    @Test(
        arguments: [
            (UInt8(1), "Check", SocketKind.data as SocketKind?),
            (2, "CheckBatch", .data),
            (3, "Ping", .data),
            (16, "PutDocument", .control),
            (17, "ApplyChange", .control),
            (18, "GetDocument", .control),
            (19, "Status", .control),
            (20, "Rollback", .control),
            (21, "Reload", .control),
            (22, "Metrics", .control),
            (23, "KeysList", .control),
            (24, "KeysRefresh", .control),
            (25, "FleetStatus", .control),
            (26, "ShadowPush", .control),
            (27, "ShadowReport", .control),
            (28, "ShadowPromote", .control),
            (29, "ShadowDrop", .control),
            (0, nil, nil),
            (4, nil, nil),
            (15, nil, nil),
            (30, nil, nil),
            (255, nil, nil),
        ] as [(UInt8, String?, SocketKind?)]
    )
    func methodIDs(raw: UInt8, name: String?, socket: SocketKind?) {
        let method = MethodID(rawValue: raw)
        #expect(method.name == name)
        #expect(method.socket == socket)
        #expect(MethodID.allKnown.contains(method) == (name != nil))
        #expect(method.description == (name ?? "method \(raw)"))
    }

    @Test func socketDefaults() {
        #expect(SocketKind.data.defaultMaximumFrameLength == 65_536)
        #expect(SocketKind.control.defaultMaximumFrameLength == 67_108_864)
    }

    @Test(arguments: [
        (StatusCode.ok, UInt16(0), "OK"),
        (.invalidArgument, 3, "INVALID_ARGUMENT"),
        (.deadlineExceeded, 4, "DEADLINE_EXCEEDED"),
        (.notFound, 5, "NOT_FOUND"),
        (.permissionDenied, 7, "PERMISSION_DENIED"),
        (.resourceExhausted, 8, "RESOURCE_EXHAUSTED"),
        (.failedPrecondition, 9, "FAILED_PRECONDITION"),
        (.aborted, 10, "ABORTED"),
        (.unimplemented, 12, "UNIMPLEMENTED"),
        (.internalError, 13, "INTERNAL"),
        (.unavailable, 14, "UNAVAILABLE"),
        (StatusCode(rawValue: 16), 16, "UNAUTHENTICATED"),
        (StatusCode(rawValue: 17), 17, "STATUS_17"),
    ])
    func statusCodes(code: StatusCode, raw: UInt16, name: String) {
        #expect(code.rawValue == raw)
        #expect(code.name == name)
        #expect("\(code)" == name)
    }
}
