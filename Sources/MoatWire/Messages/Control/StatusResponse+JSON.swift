public import MoatCore

extension StatusResponse {
    /// The status document: what `moatctl status --json` prints and moatd's `GET /status` serves
    /// (docs/running.md, "Health and metrics over HTTP"), rendered in one place for both.
    /// `nowMillis` (Unix milliseconds) is the instant `rulesConfirmedAgeSeconds` is measured at.
    public func json(nowMillis: Int64) -> JSONValue {
        func number<N: BinaryInteger>(_ value: N) -> JSONValue { .number(String(value)) }
        let confirmed = rulesConfirmedAtUnixMillis > 0 ? rulesConfirmedAtUnixMillis : nil
        let members: [(String, JSONValue)] = [
            ("ready", .bool(ready)),
            ("notReadyReason", notReadyReason.map { .string($0) } ?? .null),
            ("revision", revision?.json ?? .null),
            ("loadedAt", loadedAtUnixMillis > 0 ? .string(Timestamp.iso8601(millis: loadedAtUnixMillis)) : .null),
            ("rulesFile", .string(rulesFile)),
            ("uptimeSeconds", number(uptimeSeconds)),
            ("vaults", number(vaults)),
            ("ipRules", number(ipRules)),
            ("virtualNetworkRules", number(virtualNetworkRules)),
            ("accessPolicies", number(accessPolicies)),
            ("roleAssignments", number(roleAssignments)),
            ("history", .array(history.map(\.json))),
            ("reloadFailures", number(reloadFailures)),
            ("lastReloadError", lastReloadError.map { .string($0) } ?? .null),
            ("rulesConfirmedAt", confirmed.map { .string(Timestamp.iso8601(millis: $0)) } ?? .null),
            ("rulesConfirmedAgeSeconds", confirmed.map { number(max(0, nowMillis - $0) / 1000) } ?? .null),
            ("maxSnapshotAgeSeconds", maximumSnapshotAgeSeconds > 0 ? number(maximumSnapshotAgeSeconds) : .null),
            ("tenants", .array(tenantKeys.map { $0.json(nowMillis: nowMillis) })),
            // With the etcd rules source (docs/etcd.md); null, false and 0 with the rules file.
            ("etcdSource", etcdSource.map { .string($0) } ?? .null),
            ("stale", .bool(stale)),
            ("etcdRevision", number(etcdRevision)),
            // The shadow candidate (docs/protocol.md, "Shadow rule sets"); null when none is loaded.
            ("shadow", shadow?.json ?? .null),
        ]
        return .object(members)
    }
}

extension ShadowSummary {
    /// The candidate and its counters as `moatctl status --json` and `moatctl shadow report --json`
    /// print them.
    public var json: JSONValue {
        func number<N: BinaryInteger>(_ value: N) -> JSONValue { .number(String(value)) }
        return .object([
            ("candidate", candidate.json),
            ("base", base.json),
            ("baseChanged", .bool(baseChanged)),
            ("builtBy", changes.isEmpty ? .string("push") : .array(changes.map { .string($0) })),
            ("sampleRate", .number(String(sampleRate))),
            ("loadedAt", loadedAtUnixMillis > 0 ? .string(Timestamp.iso8601(millis: loadedAtUnixMillis)) : .null),
            ("compared", number(compared)),
            ("allowToDeny", number(allowToDeny)),
            ("denyToAllow", number(denyToAllow)),
            ("reasonChanged", number(reasonChanged)),
            ("skipped", number(skipped)),
            // The fleet's candidate is kept in etcd (docs/etcd.md, "A fleet's shadow candidate").
            ("fleet", .bool(fleet)),
            ("persisted", .bool(fleet)),
        ])
    }
}

extension ShadowReportResponse {
    /// What `moatctl shadow report --json` prints.
    public var json: JSONValue {
        func number<N: BinaryInteger>(_ value: N) -> JSONValue { .number(String(value)) }
        // A fleet report: each node's part, and the live nodes that did not answer.
        let fleetMembers: [(String, JSONValue)] =
            summary?.fleet == true
            ? [
                (
                    "nodes",
                    .array(
                        nodes.map { node in
                            .object([
                                ("name", .string(node.name)),
                                ("candidate", node.candidate.isEmpty ? .null : .string(node.candidate)),
                                ("compared", number(node.compared)),
                                ("allowToDeny", number(node.allowToDeny)),
                                ("denyToAllow", number(node.denyToAllow)),
                                ("reasonChanged", number(node.reasonChanged)),
                                ("skipped", number(node.skipped)),
                                ("error", node.error.map { .string($0) } ?? .null),
                            ])
                        }
                    )
                ),
                ("missingNodes", .array(missingNodes.map { .string($0) })),
            ] : []
        return .object(
            [
                ("shadow", summary?.json ?? .null),
                (
                    "groups",
                    .array(
                        groups.map { group in
                            .object([
                                ("change", .string(group.change.rawValue)),
                                ("vault", .string(group.vault)),
                                ("operation", .string(group.operation)),
                                ("caller", group.caller.isEmpty ? .null : .string(group.caller)),
                                ("sourcePrefix", group.sourcePrefix.isEmpty ? .null : .string(group.sourcePrefix)),
                                ("count", number(group.count)),
                                ("firstSeen", .string(Timestamp.iso8601(millis: group.firstSeenUnixMillis))),
                                ("lastSeen", .string(Timestamp.iso8601(millis: group.lastSeenUnixMillis))),
                                ("serving", .string(group.serving)),
                                ("candidate", .string(group.candidate)),
                            ])
                        }
                    )
                ),
                ("otherFlips", number(otherFlips)),
                ("otherReasonChanged", number(otherReasonChanged)),
            ] + fleetMembers
        )
    }
}
