import MoatCore
import MoatWire

extension StatusResponse {
    /// The `RuleUpdater`'s status as the control socket's Status answer and HTTP's `GET /status`
    /// carry it (docs/protocol.md, method 19).
    init(_ status: RuleUpdater.Status) {
        let counts = status.serving?.snapshot.counts ?? Snapshot.Counts()
        self.init(
            ready: status.ready,
            notReadyReason: status.notReadyReason,
            revision: status.serving?.revision,
            loadedAtUnixMillis: status.serving?.loadedAtMillis ?? 0,
            rulesFile: status.rulesFile,
            uptimeSeconds: status.uptimeSeconds,
            vaults: counts.vaults,
            ipRules: counts.ipRules,
            virtualNetworkRules: counts.virtualNetworkRules,
            accessPolicies: counts.accessPolicies,
            roleAssignments: counts.roleAssignments,
            history: status.history,
            reloadFailures: status.reloadFailures,
            lastReloadError: status.lastReloadError
        )
        rulesConfirmedAtUnixMillis = status.freshness.confirmedAtMillis ?? 0
        maximumSnapshotAgeSeconds = status.freshness.maximumAgeMillis.map { UInt64(max(0, $0) / 1000) } ?? 0
        etcdSource = status.etcd?.source
        stale = status.etcd?.stale ?? false
        etcdRevision = status.etcd?.revision ?? 0
    }

    /// The whole status the control socket's Status and HTTP's `GET /status` answer: the
    /// `RuleUpdater`'s, and each tenant's signing keys (docs/running.md, "Signing keys").
    static func current(updater: RuleUpdater, keys: KeyManager) async -> StatusResponse {
        var response = StatusResponse(await updater.status())
        response.tenantKeys = await keys.status()
        response.shadow = updater.store.shadow.candidate?.summary(serving: response.revision)
        return response
    }
}
