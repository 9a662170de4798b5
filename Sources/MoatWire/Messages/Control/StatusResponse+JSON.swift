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
        ]
        return .object(members)
    }
}
