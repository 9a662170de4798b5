import MoatCore
import MoatWire

/// A fleet report (docs/etcd.md, "A fleet's shadow candidate"): the reports of the nodes on the
/// fleet's candidate, summed. Counts add up; groups alike on several nodes (the same vault,
/// operation, caller, source prefix, change and decisions in words) are merged, counts summed,
/// first seen the earliest, last seen the latest; the largest `ShadowReport.listedGroups` of each
/// kind are listed and the others' checks summed into `otherFlips` and `otherReasonChanged`, with
/// those each node had not listed. Sums are held at `UInt64.max` (the values are read from etcd).
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
            total.compared = total.compared.saturatingAdd(part.compared)
            total.allowToDeny = total.allowToDeny.saturatingAdd(part.allowToDeny)
            total.denyToAllow = total.denyToAllow.saturatingAdd(part.denyToAllow)
            total.reasonChanged = total.reasonChanged.saturatingAdd(part.reasonChanged)
            total.skipped = total.skipped.saturatingAdd(part.skipped)
            otherFlips = otherFlips.saturatingAdd(report.report.otherFlips)
            otherReasonChanged = otherReasonChanged.saturatingAdd(report.report.otherReasonChanged)
            for group in report.report.groups {
                let key = GroupKey(group)
                guard var known = merged[key] else {
                    merged[key] = group
                    continue
                }
                known.count = known.count.saturatingAdd(group.count)
                known.firstSeenUnixMillis = min(known.firstSeenUnixMillis, group.firstSeenUnixMillis)
                known.lastSeenUnixMillis = max(known.lastSeenUnixMillis, group.lastSeenUnixMillis)
                merged[key] = known
            }
        }
        // The largest first; among equals, the first seen earliest (no negation: any Int64 is read).
        let ordered = merged.values.sorted { a, b in
            if a.count != b.count { return a.count > b.count }
            if a.firstSeenUnixMillis != b.firstSeenUnixMillis { return a.firstSeenUnixMillis < b.firstSeenUnixMillis }
            return (a.vault, a.caller, a.sourcePrefix) > (b.vault, b.caller, b.sourcePrefix)
        }
        let flips = ordered.filter { $0.change != .reason }
        let reasons = ordered.filter { $0.change == .reason }
        let unlisted = { (groups: [ShadowGroup]) in
            groups.dropFirst(ShadowReport.listedGroups).reduce(UInt64(0)) { $0.saturatingAdd($1.count) }
        }
        var response = ShadowReportResponse(
            summary: total,
            groups: Array(flips.prefix(ShadowReport.listedGroups)) + Array(reasons.prefix(ShadowReport.listedGroups)),
            otherFlips: otherFlips.saturatingAdd(unlisted(flips)),
            otherReasonChanged: otherReasonChanged.saturatingAdd(unlisted(reasons))
        )
        response.nodes = nodes
        response.missingNodes = missing.sorted()
        return response
    }
}
