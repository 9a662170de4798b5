import CMoatProto
import MoatCore
import NIOCore
import Testing

@testable import MoatWire

/// The thread's unpack arena (`cmoat_unpack_arena_acquire`, docs/performance.md "Cuts"): messages
/// unpack into it and it is empty again after each decode; what does not fit comes from malloc.
/// Each test runs on one thread (nothing in it suspends), so it sees one arena throughout.
@Suite struct UnpackArenaTests {
    static func request(token: String) -> CheckRequest {
        CheckRequest(
            vault: "contoso-prod",
            operation: .getSecret,
            objectName: "db-password",
            sourceAddress: "203.0.113.9",
            token: token,
            requestId: "rid-1"
        )
    }

    /// Whether a decoded message's token lay in the arena while it was converted, and the
    /// arena's bytes in use then.
    struct Placement: Equatable {
        var tokenInArena: Bool
        var used: Int
        /// Allocations from malloc not freed yet (`cmoat_unpack_arena_outstanding`).
        var outstanding = 0
    }

    static func decode(_ payload: ByteBuffer) throws -> (CheckRequest, Placement) {
        var placement = Placement(tokenInArena: false, used: 0)
        let request = try ProtobufCCodec.decode(Moat__V1__CheckRequest.self, from: payload) { message in
            placement = Placement(
                tokenInArena: message.token.map { cmoat_unpack_arena_owns($0) } ?? false,
                used: cmoat_unpack_arena_used(),
                outstanding: cmoat_unpack_arena_outstanding()
            )
            return CheckRequest(cMessage: message)
        }
        return (request, placement)
    }

    /// Arena bytes a `CheckRequest` struct takes at least.
    static let messageBytes = MemoryLayout<Moat__V1__CheckRequest>.size

    @Test("a check unpacks into the arena, which is empty again after every decode")
    func unpacksIntoTheArena() throws {
        let request = Self.request(token: Fixtures.token)
        let payload = try request.payload()
        for _ in 0..<3 {
            let (decoded, placement) = try Self.decode(payload)
            #expect(decoded == request)
            #expect(placement.tokenInArena)
            #expect(placement.used > Self.messageBytes + Fixtures.token.utf8.count)
            #expect(cmoat_unpack_arena_used() == 0)
        }
    }

    @Test("a message larger than the arena decodes whole: what does not fit comes from malloc")
    func largerThanTheArena() throws {
        let token = String(repeating: "t", count: Int(CMOAT_UNPACK_ARENA_CAPACITY) + 100)
        let request = Self.request(token: token)
        // Counted per thread since it started: a test sees only its own change.
        let before = cmoat_unpack_arena_outstanding()
        let (decoded, placement) = try Self.decode(try request.payload())
        #expect(decoded == request)
        // The struct and the short strings in the arena, the token from malloc, freed after.
        #expect(!placement.tokenInArena && placement.used >= Self.messageBytes)
        #expect(placement.outstanding == before + 1)
        #expect(cmoat_unpack_arena_used() == 0)
        #expect(cmoat_unpack_arena_outstanding() == before)
        // The arena serves the next message again.
        let (_, next) = try Self.decode(try Self.request(token: Fixtures.token).payload())
        #expect(next.tokenInArena)
    }

    @Test("a decode while the arena holds a message takes the system allocator, leaving that message intact")
    func nestedDecode() throws {
        let outer = Self.request(token: Fixtures.token)
        let inner = Self.request(token: "inner-token-" + String(repeating: "i", count: 40))
        let innerPayload = try inner.payload()
        var innerPlacement: Placement?
        let decoded = try ProtobufCCodec.decode(Moat__V1__CheckRequest.self, from: try outer.payload()) { message in
            do {
                let (innerDecoded, placement) = try Self.decode(innerPayload)
                innerPlacement = placement
                #expect(innerDecoded == inner)
            } catch {
                Issue.record("the inner request did not decode: \(error)")
            }
            // Converted after the inner decode: its release must not have emptied this arena.
            return CheckRequest(cMessage: message)
        }
        #expect(decoded == outer)
        #expect(innerPlacement?.tokenInArena == false)
        #expect(cmoat_unpack_arena_used() == 0)
    }

    @Test("a payload that does not unpack leaves the arena empty")
    func malformedPayload() throws {
        // A whole request, then `vault` again as a varint: the string check passes it (it looks at
        // length-delimited fields), protobuf-c refuses it after unpacking the rest into the arena.
        var payload = try Self.request(token: Fixtures.token).payload()
        payload.writeBytes([0x08, 0x05])
        #expect(throws: MessageCodingError.self) { try CheckRequest(wirePayload: payload) }
        #expect(cmoat_unpack_arena_used() == 0)
        let (_, placement) = try Self.decode(try Self.request(token: Fixtures.token).payload())
        #expect(placement.tokenInArena)
    }

    @Test("a payload larger than the arena that does not unpack frees what came from malloc")
    func malformedLargerThanTheArena() throws {
        // The token does not fit the arena; `vault` again as a varint after it fails the unpack.
        let token = String(repeating: "t", count: Int(CMOAT_UNPACK_ARENA_CAPACITY) + 100)
        var payload = try Self.request(token: token).payload()
        payload.writeBytes([0x08, 0x05])
        let before = cmoat_unpack_arena_outstanding()
        #expect(throws: MessageCodingError.self) { try CheckRequest(wirePayload: payload) }
        #expect(cmoat_unpack_arena_used() == 0)
        #expect(cmoat_unpack_arena_outstanding() == before)
    }

    /// The bytes of `string`'s storage start at: the same address means the same storage.
    static func address(_ string: String) -> UInt {
        var string = string
        return string.withUTF8 { UInt(bitPattern: $0.baseAddress) }
    }

    @Test("a token equal to the last one is shared with it, not copied; any other is decoded as sent")
    func reusesTheLastToken() throws {
        let last = Fixtures.token
        let same = try CheckRequest(wirePayload: try Self.request(token: last).payload(), reusingToken: last)
        #expect(same.token == last)
        #expect(Self.address(same.token) == Self.address(last))
        // The same length, one byte changed: at the end (the signature), in the middle, at the start.
        let original = Array(last.utf8)
        for index in [original.count - 1, original.count / 2, 0] {
            var bytes = original
            bytes[index] = bytes[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            let other = String(decoding: bytes, as: UTF8.self)
            let decoded = try CheckRequest(wirePayload: try Self.request(token: other).payload(), reusingToken: last)
            #expect(decoded.token == other)
        }
        let shorter = String(last.dropLast())
        let decoded = try CheckRequest(wirePayload: try Self.request(token: shorter).payload(), reusingToken: last)
        #expect(decoded.token == shorter)
        #expect(try CheckRequest(wirePayload: try Self.request(token: "").payload(), reusingToken: last).token == "")
    }
}
