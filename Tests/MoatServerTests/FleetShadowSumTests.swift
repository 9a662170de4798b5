import MoatCore
import MoatWire
import Testing

@testable import MoatServer

/// A fleet report summed from the nodes' (docs/etcd.md, "A fleet's shadow candidate").
@Suite("Fleet shadow report sum")
struct FleetShadowSumTests {
    static let candidate = ShadowSummary(
        candidate: Revision(sequence: 0, hash: "c0"),
        base: Revision(sequence: 0, hash: "b0")
    )

    static func group(
        _ change: ShadowGroup.Change,
        caller: String,
        count: UInt64,
        first: Int64,
        last: Int64
    ) -> ShadowGroup {
        ShadowGroup(
            change: change,
            vault: "v",
            operation: "GetSecret",
            caller: caller,
            sourcePrefix: "198.51.100.0/24",
            count: count,
            firstSeenUnixMillis: first,
            lastSeenUnixMillis: last,
            serving: "allowed by IP rule 1 (198.51.100.0/24)",
            candidate: change == .reason ? "allowed by IP rule 0 (198.51.100.0/23)" : "denied ForbiddenByFirewall"
        )
    }

    static func report(
        _ node: String,
        compared: UInt64,
        allowToDeny: UInt64,
        reasonChanged: UInt64 = 0,
        groups: [ShadowGroup],
        otherFlips: UInt64 = 0,
        error: String? = nil
    ) -> FleetShadowReport {
        var summary = candidate
        summary.compared = compared
        summary.allowToDeny = allowToDeny
        summary.reasonChanged = reasonChanged
        return FleetShadowReport(
            node: node,
            candidateHash: "c0",
            requestId: "1",
            report: ShadowReportResponse(
                summary: error == nil ? summary : nil,
                groups: groups,
                otherFlips: otherFlips
            ),
            error: error
        )
    }

    @Test(
        "counts add up; the same group on two nodes is one, counted with the sum, first seen the earliest, last seen the latest"
    )
    func merges() {
        let sum = FleetShadowSum.sum(
            Self.candidate,
            reports: [
                Self.report(
                    "b",
                    compared: 10,
                    allowToDeny: 4,
                    groups: [Self.group(.allowToDeny, caller: "alice", count: 3, first: 50, last: 60)],
                    otherFlips: 1
                ),
                Self.report(
                    "a",
                    compared: 7,
                    allowToDeny: 2,
                    reasonChanged: 1,
                    groups: [
                        Self.group(.allowToDeny, caller: "alice", count: 1, first: 40, last: 45),
                        Self.group(.allowToDeny, caller: "bob", count: 1, first: 41, last: 41),
                        Self.group(.reason, caller: "bob", count: 1, first: 42, last: 42),
                    ]
                ),
                Self.report("c", compared: 0, allowToDeny: 0, groups: [], error: "the document is invalid"),
            ],
            missing: ["d"]
        )
        #expect(sum.summary?.compared == 17)
        #expect(sum.summary?.allowToDeny == 6)
        #expect(sum.summary?.reasonChanged == 1)
        #expect(sum.summary?.candidate.hash == "c0")
        #expect(sum.otherFlips == 1)
        #expect(sum.groups.count == 3)
        let alice = sum.groups.first { $0.caller == "alice" }
        #expect(alice?.count == 4)
        #expect(alice?.firstSeenUnixMillis == 40)
        #expect(alice?.lastSeenUnixMillis == 60)
        // Flips first, largest first; then the reason changes.
        #expect(sum.groups.map(\.caller) == ["alice", "bob", "bob"])
        #expect(sum.groups.map(\.change) == [.allowToDeny, .allowToDeny, .reason])
        #expect(sum.nodes.map(\.name) == ["a", "b", "c"])
        #expect(sum.nodes.map(\.compared) == [7, 10, 0])
        #expect(sum.nodes[2].error == "the document is invalid")
        #expect(sum.missingNodes == ["d"])
    }

    @Test("past the listed groups, the checks of the smallest are summed into other")
    func bounded() {
        let listed = ShadowReport.listedGroups
        let groups = (0..<(listed + 5)).map {
            Self.group(.allowToDeny, caller: "caller\($0)", count: UInt64($0 + 1), first: 1, last: 2)
        }
        let total = groups.reduce(UInt64(0)) { $0 + $1.count }
        let sum = FleetShadowSum.sum(
            Self.candidate,
            reports: [
                Self.report("a", compared: total, allowToDeny: total, groups: Array(groups.prefix(60))),
                Self.report("b", compared: 0, allowToDeny: 0, groups: Array(groups.dropFirst(60))),
            ],
            missing: []
        )
        #expect(sum.groups.count == listed)
        // The five smallest (1 … 5 checks) are not listed.
        #expect(sum.otherFlips == 15)
        #expect(sum.groups.first?.count == UInt64(listed + 5))
        #expect(sum.groups.reduce(UInt64(0)) { $0 + $1.count } + sum.otherFlips == total)
    }
}
