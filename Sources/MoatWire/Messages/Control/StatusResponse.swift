internal import CMoatProto
public import MoatCore
public import NIOCore

/// `moat.v1.StatusResponse`: the daemon's state for `moatctl status` and health checks.
///
/// `revision` is `nil` when no valid rules are loaded (then `ready` is false and
/// `notReadyReason` says why). Empty strings travel as absent, so `notReadyReason` and
/// `lastReloadError` decode as `nil` when empty. The counts are `uint32` on the wire; a count
/// outside that range is clamped rather than refused, as no real document comes near it.
public struct StatusResponse: WireMessage, Hashable {
    public var ready: Bool
    /// Why checks are refused while not ready (e.g. the rules file is missing or invalid).
    public var notReadyReason: String?
    /// The revision checks are decided on.
    public var revision: Revision?
    /// When the current revision was accepted, Unix time in milliseconds.
    public var loadedAtUnixMillis: Int64
    public var rulesFile: String
    public var uptimeSeconds: UInt64
    /// Sizes of the current snapshot.
    public var vaults: Int
    public var ipRules: Int
    public var virtualNetworkRules: Int
    public var accessPolicies: Int
    public var roleAssignments: Int
    /// Revisions kept for rollback, newest first (the current one excluded).
    public var history: [Revision]
    public var reloadFailures: UInt64
    /// The last rejected reload's first error; `nil` when the last reload succeeded.
    public var lastReloadError: String?
    /// When the rules source last confirmed the serving rules are current, Unix time in
    /// milliseconds; 0: not yet.
    public var rulesConfirmedAtUnixMillis: Int64 = 0
    /// moatd's `--max-snapshot-age` in seconds; 0: off.
    public var maximumSnapshotAgeSeconds: UInt64 = 0
    /// Every tenant of the serving rules and its signing keys.
    public var tenantKeys: [TenantKeysStatus] = []
    /// With the etcd rules source (docs/etcd.md): its endpoints and prefix; `nil` for the rules file.
    public var etcdSource: String? = nil
    /// With the etcd rules source: whether the rules served may be behind etcd.
    public var stale = false
    /// With the etcd rules source: the etcd mod revision of the document last handled.
    public var etcdRevision: Int64 = 0
    /// The shadow candidate (docs/protocol.md, "Shadow rule sets"); `nil` when none is loaded. It
    /// is not kept across restarts.
    public var shadow: ShadowSummary? = nil

    public init(
        ready: Bool,
        notReadyReason: String? = nil,
        revision: Revision? = nil,
        loadedAtUnixMillis: Int64 = 0,
        rulesFile: String = "",
        uptimeSeconds: UInt64 = 0,
        vaults: Int = 0,
        ipRules: Int = 0,
        virtualNetworkRules: Int = 0,
        accessPolicies: Int = 0,
        roleAssignments: Int = 0,
        history: [Revision] = [],
        reloadFailures: UInt64 = 0,
        lastReloadError: String? = nil
    ) {
        self.ready = ready
        self.notReadyReason = notReadyReason
        self.revision = revision
        self.loadedAtUnixMillis = loadedAtUnixMillis
        self.rulesFile = rulesFile
        self.uptimeSeconds = uptimeSeconds
        self.vaults = vaults
        self.ipRules = ipRules
        self.virtualNetworkRules = virtualNetworkRules
        self.accessPolicies = accessPolicies
        self.roleAssignments = roleAssignments
        self.history = history
        self.reloadFailures = reloadFailures
        self.lastReloadError = lastReloadError
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__StatusResponse.self, from: payload) { message in
            var history: [Revision] = []
            if let items = message.history, message.n_history > 0 {
                history = (0..<message.n_history).map { Revision(cMessage: items[$0]!.pointee) }
            }
            var response = StatusResponse(
                ready: message.ready != 0,
                notReadyReason: CString.optional(message.not_ready_reason),
                revision: message.revision.map { Revision(cMessage: $0.pointee) },
                loadedAtUnixMillis: message.loaded_at_unix_millis,
                rulesFile: CString.string(message.rules_file),
                uptimeSeconds: message.uptime_seconds,
                vaults: Int(message.vaults),
                ipRules: Int(message.ip_rules),
                virtualNetworkRules: Int(message.virtual_network_rules),
                accessPolicies: Int(message.access_policies),
                roleAssignments: Int(message.role_assignments),
                history: history,
                reloadFailures: message.reload_failures,
                lastReloadError: CString.optional(message.last_reload_error)
            )
            response.rulesConfirmedAtUnixMillis = message.rules_confirmed_at_unix_millis
            response.maximumSnapshotAgeSeconds = message.max_snapshot_age_seconds
            response.tenantKeys = TenantKeysStatus.list(message.tenant_keys, count: message.n_tenant_keys)
            response.etcdSource = CString.optional(message.etcd_source)
            response.stale = message.stale != 0
            response.etcdRevision = message.etcd_revision
            response.shadow = message.shadow.map { ShadowSummary(cMessage: $0.pointee) }
            return response
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Moat__V1__StatusResponse.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            message.pointee.ready = ready ? 1 : 0
            try arena.set(&message.pointee.not_ready_reason, notReadyReason, field: "not_ready_reason")
            if let revision {
                let cRevision = arena.message(Moat__V1__Revision.self)
                revision.fill(cRevision, &arena)
                message.pointee.revision = cRevision
            }
            message.pointee.loaded_at_unix_millis = loadedAtUnixMillis
            try arena.set(&message.pointee.rules_file, rulesFile, field: "rules_file")
            message.pointee.uptime_seconds = uptimeSeconds
            message.pointee.vaults = UInt32(clamping: vaults)
            message.pointee.ip_rules = UInt32(clamping: ipRules)
            message.pointee.virtual_network_rules = UInt32(clamping: virtualNetworkRules)
            message.pointee.access_policies = UInt32(clamping: accessPolicies)
            message.pointee.role_assignments = UInt32(clamping: roleAssignments)
            if !history.isEmpty {
                let items = arena.pointers(to: Moat__V1__Revision.self, count: history.count)
                for (index, revision) in history.enumerated() {
                    let item = arena.message(Moat__V1__Revision.self)
                    revision.fill(item, &arena)
                    items[index] = item
                }
                message.pointee.n_history = history.count
                message.pointee.history = items
            }
            message.pointee.reload_failures = reloadFailures
            try arena.set(&message.pointee.last_reload_error, lastReloadError, field: "last_reload_error")
            message.pointee.rules_confirmed_at_unix_millis = rulesConfirmedAtUnixMillis
            message.pointee.max_snapshot_age_seconds = maximumSnapshotAgeSeconds
            message.pointee.tenant_keys = try TenantKeysStatus.fill(tenantKeys, &arena)
            message.pointee.n_tenant_keys = tenantKeys.count
            try arena.set(&message.pointee.etcd_source, etcdSource, field: "etcd_source")
            message.pointee.stale = stale ? 1 : 0
            message.pointee.etcd_revision = etcdRevision
            if let shadow { message.pointee.shadow = try shadow.fill(&arena) }
        }
    }
}
