import MoatCore
import MoatWire

/// A fleet report (docs/etcd.md, "A fleet's shadow candidate"): the reports of the nodes on the
/// fleet's candidate, summed. Counts add up; groups alike on several nodes (the same vault,
/// operation, caller, source prefix, change and decisions in words) are merged, counts summed,
/// first seen the earliest, last seen the latest; the largest `ShadowReport.listedGroups` of each
/// kind are listed and the others' checks summed into `otherFlips` and `otherReasonChanged`, with
/// those each node had not listed.
enum FleetShadowSum {
    /// `summary` describes the fleet's candidate (its counts are replaced by the sums); `reports`
    /// are the nodes that answered, `missing` the live nodes that did not.
    static func sum(
        _ summary: ShadowSummary,
        reports: [FleetShadowReport],
        missing: [String]
    ) -> ShadowReportResponse {
        var total = summary
        total.compared = 0
        total.allowToDeny = 0
        total.denyToAllow = 0
        total.reasonChanged = 0
        total.skipped = 0
        var merged: [GroupKey: ShadowGroup] = [:]
        var otherFlips: UInt64 = 0
        var otherReasonChanged: UInt64 = 0
        var nodes: [FleetShadowNode] = []
        for report in reports.sorted(by: { $0.node < $1.node }) {
            let part = report.report.summary
            nodes.append(
                FleetShadowNode(
                    name: report.node,
                    candidate: part?.candidate.hash ?? "",
                    compared: part?.compared ?? 0,
                    allowToDeny: part?.allowToDeny ?? 0,
                    denyToAllow: part?.denyToAllow ?? 0,
                    reasonChanged: part?.reasonChanged ?? 0,
                    skipped: part?.skipped ?? 0,
                    error: report.error
                )
            )
            guard let part else { continue }
            total.compared += part.compared
            total.allowToDeny += part.allowToDeny
            total.denyToAllow += part.denyToAllow
            total.reasonChanged += part.reasonChanged
            total.skipped += part.skipped
            otherFlips += report.report.otherFlips
            otherReasonChanged += report.report.otherReasonChanged
            for group in report.report.groups {
                let key = GroupKey(group)
                guard var known = merged[key] else {
                    merged[key] = group
                    continue
                }
                known.count += group.count
                known.firstSeenUnixMillis = min(known.firstSeenUnixMillis, group.firstSeenUnixMillis)
                known.lastSeenUnixMillis = max(known.lastSeenUnixMillis, group.lastSeenUnixMillis)
                merged[key] = known
            }
        }
        let ordered = merged.values.sorted {
            ($0.count, -$0.firstSeenUnixMillis, $0.vault, $0.caller, $0.sourcePrefix)
                > ($1.count, -$1.firstSeenUnixMillis, $1.vault, $1.caller, $1.sourcePrefix)
        }
        let flips = ordered.filter { $0.change != .reason }
        let reasons = ordered.filter { $0.change == .reason }
        let unlisted = { (groups: [ShadowGroup]) in
            groups.dropFirst(ShadowReport.listedGroups).reduce(UInt64(0)) { $0 + $1.count }
        }
        var response = ShadowReportResponse(
            summary: total,
            groups: Array(flips.prefix(ShadowReport.listedGroups)) + Array(reasons.prefix(ShadowReport.listedGroups)),
            otherFlips: otherFlips + unlisted(flips),
            otherReasonChanged: otherReasonChanged + unlisted(reasons)
        )
        response.nodes = nodes
        response.missingNodes = missing.sorted()
        return response
    }
}
