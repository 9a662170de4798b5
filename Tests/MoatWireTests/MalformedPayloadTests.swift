import MoatCore
import MoatTestSupport
import MoatWire
import NIOCore
import Testing

/// Bytes that are not protobuf, or not the expected message, are refused without crashing.
@Suite struct MalformedPayloadTests {
    /// Decodes `payload` as each message of both sockets; returns what each did.
    static let decoders: [(name: String, decode: @Sendable (ByteBuffer) throws -> Void)] = [
        ("moat.v1.CheckRequest", { _ = try CheckRequest(wirePayload: $0) }),
        ("moat.v1.CheckResponse", { _ = try Decision(wirePayload: $0) }),
        ("moat.v1.CheckBatchRequest", { _ = try CheckBatchRequest(wirePayload: $0) }),
        ("moat.v1.CheckBatchResponse", { _ = try CheckBatchResponse(wirePayload: $0) }),
        ("moat.v1.Ping", { _ = try Ping(wirePayload: $0) }),
        ("moat.v1.Pong", { _ = try Pong(wirePayload: $0) }),
        ("moat.v1.Error", { _ = try StatusError(wirePayload: $0) }),
        ("moat.v1.PutDocumentRequest", { _ = try PutDocumentRequest(wirePayload: $0) }),
        ("moat.v1.ChangeResponse", { _ = try ChangeResponse(wirePayload: $0) }),
        ("moat.v1.ApplyChangeRequest", { _ = try ApplyChangeRequest(wirePayload: $0) }),
        ("moat.v1.GetDocumentRequest", { _ = try GetDocumentRequest(wirePayload: $0) }),
        ("moat.v1.GetDocumentResponse", { _ = try GetDocumentResponse(wirePayload: $0) }),
        ("moat.v1.StatusRequest", { _ = try StatusRequest(wirePayload: $0) }),
        ("moat.v1.StatusResponse", { _ = try StatusResponse(wirePayload: $0) }),
        ("moat.v1.RollbackRequest", { _ = try RollbackRequest(wirePayload: $0) }),
        ("moat.v1.ReloadRequest", { _ = try ReloadRequest(wirePayload: $0) }),
        ("moat.v1.MetricsRequest", { _ = try MetricsRequest(wirePayload: $0) }),
        ("moat.v1.MetricsResponse", { _ = try MetricsResponse(wirePayload: $0) }),
        ("moat.v1.KeysListRequest", { _ = try KeysListRequest(wirePayload: $0) }),
        ("moat.v1.KeysRefreshRequest", { _ = try KeysRefreshRequest(wirePayload: $0) }),
        ("moat.v1.KeysResponse", { _ = try KeysResponse(wirePayload: $0) }),
    ]

    @Test(
        arguments: [
            [0xff],  // field 31, wire type 7
            [0x08],  // a tag and no value
            [0x0a, 0x05, 0x61],  // a length past the end
            [0x0b, 0x0c],  // groups (wire types 3 and 4)
            [0x0f],  // wire type 7
            [0x08] + Array(repeating: 0xff, count: 11),  // a varint longer than 10 bytes
            [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f],  // a 4 GiB length
            [0x00],  // field number 0
            Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
        ] as [[UInt8]]
    )
    func garbageIsRefused(bytes: [UInt8]) {
        for (name, decode) in Self.decoders {
            let error = #expect(throws: MessageCodingError.self, "\(name)") { try decode(ByteBuffer(bytes: bytes)) }
            #expect(error?.code == .malformedPayload, "\(name)")
            #expect(error?.message == "payload does not decode as \(name)")
        }
    }

    @Test(arguments: [
        ProtobufBytes().varint(1, 5),  // vault (a string) sent as a varint
        ProtobufBytes().varint(10, 1),  // asserted_identity (a message) sent as a varint
        ProtobufBytes().message(10, ProtobufBytes(raw: [0x0a, 0x09, 0x61])),  // a broken nested message
    ])
    func wrongWireTypesAreRefused(bytes: ProtobufBytes) {
        let error = #expect(throws: MessageCodingError.self) { try CheckRequest(wirePayload: bytes.buffer) }
        #expect(error?.code == .malformedPayload)
    }

    /// Random bytes, and valid messages with random bytes flipped: every decoder either refuses
    /// them or yields a value that survives another round trip. (Run under the address sanitizer
    /// too.)
    @Test func randomBytesNeverCrash() throws {
        var random = SplitMix64(seed: 0x6d6f_6174)
        var seeds: [[UInt8]] = []
        for decision in Fixtures.decisions.prefix(4) {
            seeds.append(Array(try decision.payload().readableBytesView))
        }
        seeds.append(Array(try Fixtures.requests[2].payload().readableBytesView))
        var decoded = 0
        for round in 0..<3000 {
            let buffer = ByteBuffer(bytes: random.fuzzInput(round: round, seeds: seeds))
            if let request = try? CheckRequest(wirePayload: buffer) {
                decoded += 1
                #expect(try CheckRequest(wirePayload: try request.payload()) == request)
            }
            if let decision = try? Decision(wirePayload: buffer) {
                decoded += 1
                #expect(try Decision(wirePayload: try decision.payload()) == decision)
            }
            if let batch = try? CheckBatchRequest(wirePayload: buffer) {
                #expect(try CheckBatchRequest(wirePayload: try batch.payload()) == batch)
            }
            if let batch = try? CheckBatchResponse(wirePayload: buffer) {
                #expect(try CheckBatchResponse(wirePayload: try batch.payload()) == batch)
            }
            if let pong = try? Pong(wirePayload: buffer) {
                #expect(try Pong(wirePayload: try pong.payload()) == pong)
            }
            if let error = try? StatusError(wirePayload: buffer) {
                #expect(try StatusError(wirePayload: try error.payload()) == error)
            }
        }
        #expect(decoded > 0, "the mutations should leave some messages decodable")
    }
}

extension MalformedPayloadTests {
    /// Decodes `buffer` as `Message`; when that works, the value must survive another round trip.
    /// Returns whether it decoded.
    static func roundTripIfDecodable<Message: WireMessage & Equatable>(
        _: Message.Type,
        _ buffer: ByteBuffer
    ) throws -> Bool {
        guard let message = try? Message(wirePayload: buffer) else { return false }
        #expect(try Message(wirePayload: try message.payload()) == message, "\(Message.self)")
        return true
    }

    /// The same for the control messages, seeded with every `DocumentChange` case and a full status.
    @Test func randomControlBytesNeverCrash() throws {
        var random = SplitMix64(seed: 0x6374_726c)
        var seeds: [[UInt8]] = []
        for change in Fixtures.changes {
            seeds.append(
                Array(
                    try ApplyChangeRequest(change: change, expectedRevision: "r", dryRun: true).payload()
                        .readableBytesView
                )
            )
        }
        seeds.append(Array(try Fixtures.statusResponses[2].payload().readableBytesView))
        seeds.append(
            Array(try PutDocumentRequest(document: Array("{}".utf8), expectedRevision: "r").payload().readableBytesView)
        )
        var decoded = 0
        for round in 0..<4000 {
            let buffer = ByteBuffer(bytes: random.fuzzInput(round: round, seeds: seeds))
            if try Self.roundTripIfDecodable(ApplyChangeRequest.self, buffer) { decoded += 1 }
            if try Self.roundTripIfDecodable(StatusResponse.self, buffer) { decoded += 1 }
            _ = try Self.roundTripIfDecodable(PutDocumentRequest.self, buffer)
            _ = try Self.roundTripIfDecodable(ChangeResponse.self, buffer)
            _ = try Self.roundTripIfDecodable(GetDocumentResponse.self, buffer)
            _ = try Self.roundTripIfDecodable(GetDocumentRequest.self, buffer)
            _ = try Self.roundTripIfDecodable(RollbackRequest.self, buffer)
            _ = try Self.roundTripIfDecodable(MetricsResponse.self, buffer)
        }
        #expect(decoded > 0, "the mutations should leave some messages decodable")
    }
}
