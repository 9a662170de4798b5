import MoatCore
import MoatTestSupport
import MoatWire
import NIOCore
import Testing

/// The fleet's shadow candidate on the wire and in etcd (docs/etcd.md, "A fleet's shadow
/// candidate"; docs/protocol.md, "Shadow rule sets").
@Suite struct FleetShadowMessageTests {
    @Test func fleetFlagsRoundTripAndPinTheirFields() throws {
        var push = ShadowPushRequest(document: [0x7b, 0x7d], sampleRate: 0.5)
        push.fleet = true
        #expect(try ShadowPushRequest(wirePayload: try push.payload()) == push)
        var promote = ShadowPromoteRequest(maximumFlips: 0)
        promote.fleet = true
        #expect(try promote.payload() == ProtobufBytes().varint(1, 1).varint(3, 1).buffer)
        #expect(try ShadowReportRequest(fleet: true).payload() == ProtobufBytes().varint(1, 1).buffer)
        #expect(try ShadowDropRequest(fleet: true).payload() == ProtobufBytes().varint(1, 1).buffer)
        #expect(try ShadowReportRequest(wirePayload: try ShadowReportRequest(fleet: true).payload()).fleet)
        #expect(try ShadowDropRequest(wirePayload: try ShadowDropRequest(fleet: true).payload()).fleet)
        var apply = ApplyChangeRequest(change: .addIpRule(vault: "v", value: "203.0.113.0/24"))
        apply.shadow = true
        apply.fleet = true
        #expect(try ApplyChangeRequest(wirePayload: try apply.payload()) == apply)
    }

    @Test func fleetReportRoundTrips() throws {
        var summary = ShadowSummary(
            candidate: Revision(sequence: 0, hash: "0011"),
            base: Revision(sequence: 0, hash: "2233")
        )
        summary.fleet = true
        var response = ShadowReportResponse(summary: summary)
        response.nodes = [
            FleetShadowNode(name: "a", candidate: "0011", compared: 5, allowToDeny: 3, reasonChanged: 1),
            FleetShadowNode(name: "b", candidate: "", error: "the document is invalid"),
        ]
        response.missingNodes = ["c"]
        let decoded = try ShadowReportResponse(wirePayload: try response.payload())
        #expect(decoded == response)
        #expect(decoded.summary?.fleet == true)
    }

    @Test func etcdValuesRoundTrip() throws {
        let entry = FleetShadowEntry(
            document: Array("moat-chunks v1\nhash 00\n".utf8),
            candidateHash: "0011",
            baseHash: "2233",
            sampleRate: 0.25,
            changes: [.removeIpRule(vault: "v", value: "198.51.100.0/24"), .deleteVault(name: "w")],
            putBy: "node0",
            putAtUnixMillis: 1_764_000_000_000
        )
        #expect(try FleetShadowEntry(wirePayload: try entry.payload()) == entry)
        var pushed = entry
        pushed.changes = nil
        #expect(try FleetShadowEntry(wirePayload: try pushed.payload()) == pushed)
        let report = FleetShadowReport(
            node: "node0",
            candidateHash: "0011",
            requestId: "9f",
            report: ShadowReportResponse(summary: nil, otherFlips: 2),
            error: nil
        )
        #expect(try FleetShadowReport(wirePayload: try report.payload()) == report)
    }
}
