import MoatCore
import MoatTestSupport
import MoatWire
import NIOCore
import Testing

@Suite struct CheckRequestWireTests {
    @Test(arguments: Fixtures.requests)
    func roundTrips(request: CheckRequest) throws {
        let decoded = try CheckRequest(wirePayload: try request.payload())
        #expect(decoded == request)
    }

    /// Pins the encoding to authz.proto's field numbers, independently of protobuf-c.
    @Test func matchesHandBuiltBytes() throws {
        let request = CheckRequest(
            vault: "contoso-prod",
            operation: .wrapKey,
            objectName: "k1",
            sourceAddress: "203.0.113.9",
            subnetId: "sub",
            privateEndpointId: "pe",
            token: "jwt",
            requestId: "rid",
            timeoutMicros: 1500,
            assertedIdentity: AssertedIdentity(oid: "o", appid: "a", tid: "t", groups: ["g1", "g2"], xmsMirid: "m")
        )
        let bytes = ProtobufBytes()
            .string(1, "contoso-prod").varint(2, 218).string(3, "k1").string(4, "203.0.113.9")
            .string(5, "sub").string(6, "pe").string(7, "jwt").string(8, "rid").varint(9, 1500)
            .message(
                10,
                ProtobufBytes().string(1, "o").string(2, "a").string(3, "t").string(4, "g1").string(4, "g2")
                    .string(5, "m")
            )
        #expect(try CheckRequest(wirePayload: bytes.buffer) == request)
        #expect(try request.payload() == bytes.buffer)
    }

    @Test(arguments: [
        ProtobufBytes(),
        ProtobufBytes().varint(2, 0),
        ProtobufBytes().varint(2, 100),
        ProtobufBytes().varint(2, 999),
        ProtobufBytes().varint(2, 2_000_000),
        ProtobufBytes().varint(2, signed: -1),
        ProtobufBytes().varint(2, signed: -101),
    ])
    func unknownOperationsDecodeAsNil(bytes: ProtobufBytes) throws {
        let decoded = try CheckRequest(wirePayload: bytes.string(1, "v").buffer)
        #expect(decoded.operation == nil)
        #expect(decoded.vault == "v")
    }

    @Test(arguments: Operation.allCases)
    func everyOperationTravels(operation: Operation) throws {
        let bytes = ProtobufBytes().varint(2, UInt64(operation.rawValue))
        #expect(try CheckRequest(wirePayload: bytes.buffer).operation == operation)
        #expect(try CheckRequest(operation: operation).payload() == bytes.buffer)
    }

    static let refusedStrings: [(ProtobufBytes, String)] = [
        (ProtobufBytes().bytes(1, Array("a\u{0}b".utf8)), "vault"),
        (ProtobufBytes().bytes(1, [0x61, 0xff]), "vault"),
        (ProtobufBytes().string(1, "ok").bytes(7, [0xc0, 0xaf]), "token"),  // overlong "/"
        (ProtobufBytes().bytes(3, [0xed, 0xa0, 0x80]), "object_name"),  // a surrogate
        (ProtobufBytes().bytes(8, [0x41, 0xe2, 0x82]), "request_id"),  // cut in the middle
        (ProtobufBytes().bytes(4, [0xf4, 0x90, 0x80, 0x80]), "source_address"),  // above U+10FFFF
        (ProtobufBytes().bytes(5, [0]), "subnet_id"),
        (ProtobufBytes().bytes(6, Array("pe\u{0}".utf8)), "private_endpoint_id"),
        (ProtobufBytes().message(10, ProtobufBytes().bytes(1, [0x80])), "asserted_identity.oid"),
        (
            ProtobufBytes().message(10, ProtobufBytes().string(4, "g0").bytes(4, Array("g\u{0}1".utf8))),
            "asserted_identity.groups[1]"
        ),
        (ProtobufBytes().message(10, ProtobufBytes().bytes(4, [0xfe])), "asserted_identity.groups[0]"),
        (ProtobufBytes().message(10, ProtobufBytes().string(1, "o").bytes(5, [0, 0])), "asserted_identity.xms_mirid"),
    ]

    @Test(arguments: refusedStrings)
    func refusesNulAndInvalidUTF8(bytes: ProtobufBytes, field: String) {
        let error = #expect(throws: MessageCodingError.self) { try CheckRequest(wirePayload: bytes.buffer) }
        #expect(error?.code == .invalidString)
        #expect(error?.field == field)
        #expect(error?.message == "field '\(field)' holds a NUL byte or invalid UTF-8")
    }

    @Test(arguments: [
        (CheckRequest(vault: "a\u{0}b"), "vault"),
        (CheckRequest(token: "\u{0}"), "token"),
        (CheckRequest(assertedIdentity: AssertedIdentity(groups: ["ok", "x\u{0}"])), "asserted_identity.groups[1]"),
        (CheckRequest(assertedIdentity: AssertedIdentity(tid: "t\u{0}")), "asserted_identity.tid"),
    ])
    func refusesToEncodeNul(request: CheckRequest, field: String) {
        var buffer = ByteBuffer(string: "kept")
        let error = #expect(throws: MessageCodingError.self) { try request.encode(into: &buffer) }
        #expect(error?.code == .invalidString)
        #expect(error?.field == field)
        #expect(buffer == ByteBuffer(string: "kept"))
    }
}

/// The string check reads ASCII eight bytes at a time: a bad byte is found at every position.
@Suite struct StringCheckPositionTests {
    static let text = Array("abcdefghijklmnopqrstuvwxyz0123456789é-ABCDEFGHIJ".utf8)

    @Test(arguments: 0..<text.count)
    func nulAtEveryPositionIsRefused(position: Int) {
        var bytes = Self.text
        bytes[position] = 0
        #expect(throws: MessageCodingError.self) {
            try CheckRequest(wirePayload: ProtobufBytes().bytes(7, bytes).buffer)
        }
    }

    @Test(arguments: 0..<text.count)
    func invalidByteAtEveryPositionIsRefused(position: Int) {
        var bytes = Self.text
        bytes[position] = 0xff
        #expect(throws: MessageCodingError.self) {
            try CheckRequest(wirePayload: ProtobufBytes().bytes(7, bytes).buffer)
        }
    }

    @Test(arguments: 0...text.count)
    func everyPrefixOfCleanTextIsAccepted(length: Int) throws {
        // Cutting inside "é" leaves invalid UTF-8; every other prefix is clean.
        let prefix = Array(Self.text.prefix(length))
        let cutsCharacter = length == 37
        let decoded = try? CheckRequest(wirePayload: ProtobufBytes().bytes(7, prefix).buffer)
        #expect((decoded == nil) == cutsCharacter)
        if let decoded { #expect(Array(decoded.token.utf8) == prefix) }
    }
}
