import MoatCore
import MoatTestSupport
import MoatWire
import NIOCore
import Testing

/// The shadow rule set messages (docs/protocol.md, "Shadow rule sets": methods 26-29, the
/// `shadow` field of ApplyChangeRequest and StatusResponse).
@Suite struct ShadowMessageTests {
    static let summary = ShadowSummary(
        candidate: Revision(sequence: 4, hash: "0011223344556677"),
        base: Revision(sequence: 3, hash: "8899aabbccddeeff"),
        changes: ["removed IP rule 198.51.100.0/24 from contoso-prod", "ключ"],
        sampleRate: 0.25,
        loadedAtUnixMillis: 1_764_000_000_000,
        compared: 15,
        allowToDeny: 3,
        denyToAllow: 1,
        reasonChanged: 2,
        skipped: 7,
        baseChanged: true
    )

    @Test func requestsRoundTrip() throws {
        for request in [
            ShadowPushRequest(document: [0x7b, 0x7d]), ShadowPushRequest(document: [0x7b], sampleRate: 0.5),
        ] {
            #expect(try ShadowPushRequest(wirePayload: try request.payload()) == request)
        }
        for request in [
            ShadowPromoteRequest(), ShadowPromoteRequest(maximumFlips: 0), ShadowPromoteRequest(maximumFlips: 12),
        ] {
            #expect(try ShadowPromoteRequest(wirePayload: try request.payload()) == request)
        }
        #expect(try ShadowReportRequest(wirePayload: try ShadowReportRequest().payload()) == ShadowReportRequest())
        #expect(try ShadowDropRequest(wirePayload: try ShadowDropRequest().payload()) == ShadowDropRequest())
    }

    /// Pins the field numbers: `--if-no-flips` is a limit of 0, told apart from no limit.
    @Test func promoteMatchesHandBuiltBytes() throws {
        #expect(try ShadowPromoteRequest(maximumFlips: 0).payload() == ProtobufBytes().varint(1, 1).buffer)
        #expect(try ShadowPromoteRequest().payload() == ProtobufBytes().buffer)
        #expect(try ShadowPromoteRequest(maximumFlips: 5).payload() == ProtobufBytes().varint(1, 1).varint(2, 5).buffer)
    }

    @Test func applyChangeCarriesShadowAsField4() throws {
        var request = ApplyChangeRequest(change: .addIpRule(vault: "v", value: "203.0.113.0/24"))
        let plain = try request.payload()
        request.shadow = true
        let shadow = try request.payload()
        #expect(try ApplyChangeRequest(wirePayload: shadow).shadow)
        #expect(try !ApplyChangeRequest(wirePayload: plain).shadow)
        // Field 4 (varint 1) is the only difference.
        #expect(shadow.readableBytes == plain.readableBytes + 2)
        #expect(Array(shadow.readableBytesView).contains(0x20))
    }

    @Test func reportRoundTrips() throws {
        let response = ShadowReportResponse(
            summary: Self.summary,
            groups: ShadowGroup.Change.allCases.enumerated().map { index, change in
                ShadowGroup(
                    change: change,
                    vault: "contoso-prod",
                    operation: "GetSecret",
                    caller: index == 0 ? "" : "a11ce000-0000-4000-8000-000000000001",
                    sourcePrefix: "198.51.100.0/24",
                    count: UInt64(index + 1),
                    firstSeenUnixMillis: 10,
                    lastSeenUnixMillis: 20,
                    serving: "allowed by IP rule 1 (198.51.100.0/24)",
                    candidate: "denied ForbiddenByFirewall"
                )
            },
            otherFlips: 9,
            otherReasonChanged: 4
        )
        #expect(try ShadowReportResponse(wirePayload: try response.payload()) == response)
        let none = ShadowReportResponse(summary: nil)
        #expect(try ShadowReportResponse(wirePayload: try none.payload()) == none)
    }

    @Test func unknownChangeIsRefused() {
        let bytes = ProtobufBytes().message(2, ProtobufBytes().varint(1, 9))
        #expect(throws: MessageCodingError.self) { try ShadowReportResponse(wirePayload: bytes.buffer) }
    }

    @Test func statusCarriesTheSummary() throws {
        var status = StatusResponse(ready: true)
        status.shadow = Self.summary
        let decoded = try StatusResponse(wirePayload: try status.payload())
        #expect(decoded.shadow == Self.summary)
        #expect(decoded.json(nowMillis: 0)["shadow"]?["persisted"] == .bool(false))
        #expect(try StatusResponse(wirePayload: try StatusResponse(ready: true).payload()).shadow == nil)
    }
}
