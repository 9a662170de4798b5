internal import CMoatProto
public import MoatCore
public import NIOCore

/// `moat.v1.ShadowPushRequest` (ShadowPush, method 26): loads a candidate document beside the
/// serving one, validated like a PutDocument but not served (docs/protocol.md, "Shadow rule
/// sets"); answered by a `ChangeResponse` naming the candidate's revision.
public struct ShadowPushRequest: WireMessage, Hashable {
    public var document: [UInt8]
    /// The share of checks the candidate also judges, in (0, 1]; `nil` (sent as 0) means all.
    public var sampleRate: Double?
    /// Put the candidate in etcd so that every node of the fleet judges it (docs/etcd.md, "A
    /// fleet's shadow candidate"); needs the etcd rules source.
    public var fleet = false

    public init(document: [UInt8], sampleRate: Double? = nil) {
        self.document = document
        self.sampleRate = sampleRate
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__ShadowPushRequest.self, from: payload) { message in
            var request = ShadowPushRequest(
                document: CBytes.array(message.document),
                sampleRate: message.sample_rate == 0 ? nil : message.sample_rate
            )
            request.fleet = message.fleet != 0
            return request
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        ProtobufCCodec.encode(Moat__V1__ShadowPushRequest.self, into: &buffer) { message, arena in
            arena.set(&message.pointee.document, document)
            message.pointee.sample_rate = sampleRate ?? 0
            message.pointee.fleet = fleet ? 1 : 0
        }
    }
}

/// `moat.v1.ShadowReportRequest` (ShadowReport, method 27); answered by a `ShadowReportResponse`.
public struct ShadowReportRequest: WireMessage, Hashable {
    /// Every live node's report on the fleet's candidate, summed (docs/etcd.md, "A fleet's shadow
    /// candidate"); needs the etcd rules source.
    public var fleet = false

    public init() {}

    public init(fleet: Bool) {
        self.fleet = fleet
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__ShadowReportRequest.self, from: payload) { message in
            ShadowReportRequest(fleet: message.fleet != 0)
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        ProtobufCCodec.encode(Moat__V1__ShadowReportRequest.self, into: &buffer) { message, _ in
            message.pointee.fleet = fleet ? 1 : 0
        }
    }
}

/// `moat.v1.ShadowPromoteRequest` (ShadowPromote, method 28): makes the candidate the serving
/// document; answered by a `ChangeResponse`.
public struct ShadowPromoteRequest: WireMessage, Hashable {
    /// Refuse when more checks than this flipped (0: any flip refuses); `nil`: no limit.
    public var maximumFlips: UInt64?
    /// Promote the fleet's candidate, the limit checked against every node's report summed;
    /// needs the etcd rules source.
    public var fleet = false

    public init(maximumFlips: UInt64? = nil) {
        self.maximumFlips = maximumFlips
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__ShadowPromoteRequest.self, from: payload) { message in
            var request = ShadowPromoteRequest(maximumFlips: message.limit_flips != 0 ? message.max_flips : nil)
            request.fleet = message.fleet != 0
            return request
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        ProtobufCCodec.encode(Moat__V1__ShadowPromoteRequest.self, into: &buffer) { message, _ in
            message.pointee.limit_flips = maximumFlips == nil ? 0 : 1
            message.pointee.max_flips = maximumFlips ?? 0
            message.pointee.fleet = fleet ? 1 : 0
        }
    }
}

/// `moat.v1.ShadowDropRequest` (ShadowDrop, method 29): discards the candidate; answered by a
/// `ChangeResponse` (`changed` false when there was none).
public struct ShadowDropRequest: WireMessage, Hashable {
    /// Delete the fleet's candidate from etcd, so that every node drops it; needs the etcd rules
    /// source.
    public var fleet = false

    public init() {}

    public init(fleet: Bool) {
        self.fleet = fleet
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__ShadowDropRequest.self, from: payload) { message in
            ShadowDropRequest(fleet: message.fleet != 0)
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        ProtobufCCodec.encode(Moat__V1__ShadowDropRequest.self, into: &buffer) { message, _ in
            message.pointee.fleet = fleet ? 1 : 0
        }
    }
}

/// `moat.v1.ShadowSummary`: the shadow candidate and its counters (in `ShadowReportResponse` and
/// `StatusResponse`).
public struct ShadowSummary: Sendable, Hashable {
    /// The candidate document's revision (the sequence it would be served as).
    public var candidate: Revision
    /// The serving revision the candidate was built on.
    public var base: Revision
    /// The changes that built it, in order; empty when it was pushed whole.
    public var changes: [String]
    public var sampleRate: Double
    public var loadedAtUnixMillis: Int64
    /// Checks judged by both and compared.
    public var compared: UInt64
    public var allowToDeny: UInt64
    public var denyToAllow: UInt64
    /// Same outcome, another stage, rule, grant or code.
    public var reasonChanged: UInt64
    /// Sampled checks not compared because the comparer was behind.
    public var skipped: UInt64
    /// Whether the serving revision is no longer `base` (a pushed candidate is then not promoted).
    public var baseChanged: Bool
    /// Whether the candidate is the fleet's (in etcd, judged by every node; docs/etcd.md, "A
    /// fleet's shadow candidate").
    public var fleet = false

    public init(
        candidate: Revision,
        base: Revision,
        changes: [String] = [],
        sampleRate: Double = 1,
        loadedAtUnixMillis: Int64 = 0,
        compared: UInt64 = 0,
        allowToDeny: UInt64 = 0,
        denyToAllow: UInt64 = 0,
        reasonChanged: UInt64 = 0,
        skipped: UInt64 = 0,
        baseChanged: Bool = false
    ) {
        self.candidate = candidate
        self.base = base
        self.changes = changes
        self.sampleRate = sampleRate
        self.loadedAtUnixMillis = loadedAtUnixMillis
        self.compared = compared
        self.allowToDeny = allowToDeny
        self.denyToAllow = denyToAllow
        self.reasonChanged = reasonChanged
        self.skipped = skipped
        self.baseChanged = baseChanged
    }

    /// Checks whose outcome would change.
    public var flips: UInt64 { allowToDeny + denyToAllow }

    init(cMessage message: borrowing Moat__V1__ShadowSummary) {
        let none = Revision(sequence: 0, hash: "")
        self.init(
            candidate: message.candidate.map { Revision(cMessage: $0.pointee) } ?? none,
            base: message.base_revision.map { Revision(cMessage: $0.pointee) } ?? none,
            changes: CString.strings(message.changes, count: message.n_changes),
            sampleRate: message.sample_rate,
            loadedAtUnixMillis: message.loaded_at_unix_millis,
            compared: message.compared,
            allowToDeny: message.allow_to_deny,
            denyToAllow: message.deny_to_allow,
            reasonChanged: message.reason_changed,
            skipped: message.skipped,
            baseChanged: message.base_changed != 0
        )
        fleet = message.fleet != 0
    }

    func fill(_ arena: inout PackingArena) throws(MessageCodingError) -> UnsafeMutablePointer<Moat__V1__ShadowSummary> {
        let message = arena.message(Moat__V1__ShadowSummary.self)
        let cCandidate = arena.message(Moat__V1__Revision.self)
        candidate.fill(cCandidate, &arena)
        message.pointee.candidate = cCandidate
        let cBase = arena.message(Moat__V1__Revision.self)
        base.fill(cBase, &arena)
        message.pointee.base_revision = cBase
        try arena.set(&message.pointee.changes, count: &message.pointee.n_changes, changes, field: "shadow.changes")
        message.pointee.sample_rate = sampleRate
        message.pointee.loaded_at_unix_millis = loadedAtUnixMillis
        message.pointee.compared = compared
        message.pointee.allow_to_deny = allowToDeny
        message.pointee.deny_to_allow = denyToAllow
        message.pointee.reason_changed = reasonChanged
        message.pointee.skipped = skipped
        message.pointee.base_changed = baseChanged ? 1 : 0
        message.pointee.fleet = fleet ? 1 : 0
        return message
    }
}

/// `moat.v1.ShadowGroup`: checks that changed alike (docs/protocol.md, "Shadow rule sets").
public struct ShadowGroup: Sendable, Hashable {
    /// How the candidate's decision differs from the serving one.
    public enum Change: String, Sendable, Hashable, CaseIterable {
        case allowToDeny = "allow→deny"
        case denyToAllow = "deny→allow"
        /// Same outcome, another reason (stage, rule, grant or code).
        case reason = "reason"

        var wire: Moat__V1__ShadowChange {
            switch self {
            case .allowToDeny: MOAT__V1__SHADOW_CHANGE__SHADOW_CHANGE_ALLOW_TO_DENY
            case .denyToAllow: MOAT__V1__SHADOW_CHANGE__SHADOW_CHANGE_DENY_TO_ALLOW
            case .reason: MOAT__V1__SHADOW_CHANGE__SHADOW_CHANGE_REASON
            }
        }
    }

    public var change: Change
    public var vault: String
    public var operation: String
    /// "oid" or "oid (appid A)"; empty when no caller was learned.
    public var caller: String
    /// The source address's /24 (IPv4) or /64 (IPv6), else the subnet or private endpoint named.
    public var sourcePrefix: String
    public var count: UInt64
    public var firstSeenUnixMillis: Int64
    public var lastSeenUnixMillis: Int64
    /// The serving decision in words: "allowed by IP rule 3 (203.0.113.0/24)".
    public var serving: String
    /// The candidate's decision in words: "denied ForbiddenByFirewall".
    public var candidate: String

    public init(
        change: Change,
        vault: String,
        operation: String,
        caller: String,
        sourcePrefix: String,
        count: UInt64,
        firstSeenUnixMillis: Int64,
        lastSeenUnixMillis: Int64,
        serving: String,
        candidate: String
    ) {
        self.change = change
        self.vault = vault
        self.operation = operation
        self.caller = caller
        self.sourcePrefix = sourcePrefix
        self.count = count
        self.firstSeenUnixMillis = firstSeenUnixMillis
        self.lastSeenUnixMillis = lastSeenUnixMillis
        self.serving = serving
        self.candidate = candidate
    }
}

/// `moat.v1.ShadowReportResponse`: what the candidate would have changed; `summary` nil when no
/// candidate is loaded.
public struct ShadowReportResponse: WireMessage, Hashable {
    public var summary: ShadowSummary?
    /// The largest groups, largest first.
    public var groups: [ShadowGroup]
    /// Flipped checks not in a listed group.
    public var otherFlips: UInt64
    /// Reason-changed checks not in a listed group.
    public var otherReasonChanged: UInt64
    /// A fleet report: one entry per node that answered, by name.
    public var nodes: [FleetShadowNode] = []
    /// A fleet report: the live nodes that did not answer in time (their checks are not summed).
    public var missingNodes: [String] = []

    public init(
        summary: ShadowSummary?,
        groups: [ShadowGroup] = [],
        otherFlips: UInt64 = 0,
        otherReasonChanged: UInt64 = 0
    ) {
        self.summary = summary
        self.groups = groups
        self.otherFlips = otherFlips
        self.otherReasonChanged = otherReasonChanged
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__ShadowReportResponse.self, from: payload) {
            message throws(MessageCodingError) in
            var groups: [ShadowGroup] = []
            if let items = message.groups {
                for index in 0..<message.n_groups {
                    guard let group = items[index]?.pointee else { continue }
                    let change: ShadowGroup.Change
                    switch group.change {
                    case MOAT__V1__SHADOW_CHANGE__SHADOW_CHANGE_ALLOW_TO_DENY: change = .allowToDeny
                    case MOAT__V1__SHADOW_CHANGE__SHADOW_CHANGE_DENY_TO_ALLOW: change = .denyToAllow
                    case MOAT__V1__SHADOW_CHANGE__SHADOW_CHANGE_REASON: change = .reason
                    default:
                        throw .invalidValue(
                            field: "groups[\(index)].change",
                            "is \(group.change.rawValue), not a known change"
                        )
                    }
                    groups.append(
                        ShadowGroup(
                            change: change,
                            vault: CString.string(group.vault),
                            operation: CString.string(group.operation),
                            caller: CString.string(group.caller),
                            sourcePrefix: CString.string(group.source_prefix),
                            count: group.count,
                            firstSeenUnixMillis: group.first_seen_unix_millis,
                            lastSeenUnixMillis: group.last_seen_unix_millis,
                            serving: CString.string(group.serving),
                            candidate: CString.string(group.candidate)
                        )
                    )
                }
            }
            var response = ShadowReportResponse(
                summary: message.summary.map { ShadowSummary(cMessage: $0.pointee) },
                groups: groups,
                otherFlips: message.other_flips,
                otherReasonChanged: message.other_reason_changed
            )
            if let items = message.nodes {
                response.nodes = (0..<message.n_nodes).compactMap {
                    items[$0].map { FleetShadowNode(cMessage: $0.pointee) }
                }
            }
            response.missingNodes = CString.strings(message.missing_nodes, count: message.n_missing_nodes)
            return response
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Moat__V1__ShadowReportResponse.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            if let summary { message.pointee.summary = try summary.fill(&arena) }
            let items = arena.pointers(to: Moat__V1__ShadowGroup.self, count: groups.count)
            for (index, group) in groups.enumerated() {
                let item = arena.message(Moat__V1__ShadowGroup.self)
                item.pointee.change = group.change.wire
                try arena.set(&item.pointee.vault, group.vault, field: "groups[\(index)].vault")
                try arena.set(&item.pointee.operation, group.operation, field: "groups[\(index)].operation")
                try arena.set(&item.pointee.caller, group.caller, field: "groups[\(index)].caller")
                try arena.set(&item.pointee.source_prefix, group.sourcePrefix, field: "groups[\(index)].source_prefix")
                item.pointee.count = group.count
                item.pointee.first_seen_unix_millis = group.firstSeenUnixMillis
                item.pointee.last_seen_unix_millis = group.lastSeenUnixMillis
                try arena.set(&item.pointee.serving, group.serving, field: "groups[\(index)].serving")
                try arena.set(&item.pointee.candidate, group.candidate, field: "groups[\(index)].candidate")
                items[index] = item
            }
            message.pointee.n_groups = groups.count
            message.pointee.groups = items
            message.pointee.other_flips = otherFlips
            message.pointee.other_reason_changed = otherReasonChanged
            let nodeItems = arena.pointers(to: Moat__V1__FleetShadowNode.self, count: nodes.count)
            for (index, node) in nodes.enumerated() {
                nodeItems[index] = try node.fill(&arena, field: "nodes[\(index)]")
            }
            message.pointee.n_nodes = nodes.count
            message.pointee.nodes = nodeItems
            try arena.set(
                &message.pointee.missing_nodes,
                count: &message.pointee.n_missing_nodes,
                missingNodes,
                field: "missing_nodes"
            )
        }
    }
}
