import MoatCore
import MoatWire

/// What a shadow candidate would have changed (docs/protocol.md, "Shadow rule sets"): counts of
/// the checks compared and of those whose outcome would flip or whose reason alone would change,
/// and those checks grouped by vault, operation, caller and source prefix.
///
/// Memory is bounded: each kind of change (flips, reason-only changes) keeps at most
/// `groupCapacity` groups; a new group when the table is full replaces a small one (`GroupTable`),
/// whose checks go into the summed rest (`ShadowReportResponse.otherFlips`, `otherReasonChanged`).
/// So the large groups stay, every check is counted once, and the report's size does not grow
/// with the number of distinct callers. Each text is cut to `maximumFieldBytes`.
struct ShadowReport {
    /// Groups kept per kind of change.
    static let groupCapacity = 256
    /// Groups of each kind a report lists (the rest is summed).
    static let listedGroups = 100
    /// Longest text kept in a group (vault, caller, prefix, decision words).
    static let maximumFieldBytes = 256

    private(set) var compared: UInt64 = 0
    private(set) var allowToDeny: UInt64 = 0
    private(set) var denyToAllow: UInt64 = 0
    private(set) var reasonChanged: UInt64 = 0
    private var flips = GroupTable()
    private var reasons = GroupTable()

    /// Compares the serving decision on `request` with the candidate's and counts the difference;
    /// returns it (nil when the decisions agree on outcome and reason).
    @discardableResult
    mutating func record(
        _ request: CheckRequest,
        serving: Decision,
        candidate: Decision,
        atMillis: Int64
    ) -> ShadowGroup.Change? {
        compared += 1
        let change: ShadowGroup.Change
        switch (serving.outcome, candidate.outcome) {
        case (.allow, .deny):
            change = .allowToDeny
            allowToDeny += 1
        case (.deny, .allow):
            change = .denyToAllow
            denyToAllow += 1
        default:
            guard DecisionReason(serving) != DecisionReason(candidate) else { return nil }
            change = .reason
            reasonChanged += 1
        }
        let key = GroupKey(
            change: change,
            vault: Self.cut(request.vault),
            operation: request.operation?.name ?? "",
            caller: Self.cut(Self.caller(serving.caller ?? candidate.caller)),
            sourcePrefix: Self.cut(Self.sourcePrefix(request)),
            serving: Self.cut(serving.words),
            candidate: Self.cut(candidate.words)
        )
        if change == .reason {
            reasons.add(key, atMillis: atMillis)
        } else {
            flips.add(key, atMillis: atMillis)
        }
        return change
    }

    /// The listed groups (flips first, then reason-only changes, each largest first) and the
    /// checks of the groups not listed.
    func groups() -> (groups: [ShadowGroup], otherFlips: UInt64, otherReasonChanged: UInt64) {
        let listedFlips = flips.largest(Self.listedGroups)
        let listedReasons = reasons.largest(Self.listedGroups)
        let sum = { (groups: [ShadowGroup]) in groups.reduce(0) { $0 + $1.count } }
        return (
            listedFlips + listedReasons,
            allowToDeny + denyToAllow - sum(listedFlips),
            reasonChanged - sum(listedReasons)
        )
    }

    /// Groups kept: 0 to `2 × groupCapacity`.
    var keptGroups: Int { flips.count + reasons.count }

    /// "oid" or "oid (appid A)"; empty when no caller was learned.
    static func caller(_ caller: Caller?) -> String {
        guard let caller else { return "" }
        guard !caller.applicationId.isEmpty, caller.applicationId != caller.objectId else { return caller.objectId }
        return "\(caller.objectId) (appid \(caller.applicationId))"
    }

    /// The source address's /24 (IPv4) or /64 (IPv6); without an address, the subnet or private
    /// endpoint the request named; the address itself when it does not parse.
    static func sourcePrefix(_ request: CheckRequest) -> String {
        if !request.sourceAddress.isEmpty {
            guard let address = IPAddress(request.sourceAddress) else { return request.sourceAddress }
            return IPNetwork(address: address, prefixLength: address.isIPv4 ? 24 : 64).masked.description
        }
        return request.subnetId.isEmpty ? request.privateEndpointId : request.subnetId
    }

    private static func cut(_ text: String) -> String {
        DecisionLog.Record.truncated(text, toBytes: maximumFieldBytes)
    }
}

/// What makes two groups one (in a report, and across the nodes' reports: `FleetShadowSum`).
struct GroupKey: Hashable {
    var change: ShadowGroup.Change
    var vault: String
    var operation: String
    var caller: String
    var sourcePrefix: String
    var serving: String
    var candidate: String
}

extension GroupKey {
    init(_ group: ShadowGroup) {
        self.init(
            change: group.change,
            vault: group.vault,
            operation: group.operation,
            caller: group.caller,
            sourcePrefix: group.sourcePrefix,
            serving: group.serving,
            candidate: group.candidate
        )
    }
}

/// At most `ShadowReport.groupCapacity` groups. When full, a new group takes the place of the
/// smallest of `evictionSample` groups drawn at random (constant time per check, whatever the
/// number of distinct groups): groups seen more than once are rarely the one replaced, so the
/// large groups stay.
private struct GroupTable {
    private struct Group {
        var key: GroupKey
        var count: UInt64
        var firstSeen: Int64
        var lastSeen: Int64
    }

    /// Groups compared to choose the one replaced.
    static let evictionSample = 8

    private var groups: [Group] = []
    private var positions: [GroupKey: Int] = [:]
    /// Random state for the eviction draw (xorshift64*), seeded arbitrarily: the choice need not be unpredictable.
    private var random: UInt64 = 0x9E37_79B9_7F4A_7C15

    var count: Int { groups.count }

    mutating func add(_ key: GroupKey, atMillis: Int64) {
        if let position = positions[key] {
            groups[position].count += 1
            groups[position].lastSeen = atMillis
            return
        }
        let group = Group(key: key, count: 1, firstSeen: atMillis, lastSeen: atMillis)
        guard groups.count >= ShadowReport.groupCapacity else {
            positions[key] = groups.count
            groups.append(group)
            return
        }
        var smallest = nextPosition()
        for _ in 1..<Self.evictionSample {
            let position = nextPosition()
            if groups[position].count < groups[smallest].count { smallest = position }
        }
        positions[groups[smallest].key] = nil
        positions[key] = smallest
        groups[smallest] = group
    }

    private mutating func nextPosition() -> Int {
        random ^= random >> 12
        random ^= random << 25
        random ^= random >> 27
        return Int((random &* 0x2545_f491_4f6c_dd1d) % UInt64(groups.count))
    }

    /// The `limit` largest groups, largest first (ties: first seen first).
    func largest(_ limit: Int) -> [ShadowGroup] {
        groups.sorted {
            ($0.count, -$0.firstSeen, $0.key.vault) > ($1.count, -$1.firstSeen, $1.key.vault)
        }.prefix(limit).map { group in
            ShadowGroup(
                change: group.key.change,
                vault: group.key.vault,
                operation: group.key.operation,
                caller: group.key.caller,
                sourcePrefix: group.key.sourcePrefix,
                count: group.count,
                firstSeenUnixMillis: group.firstSeen,
                lastSeenUnixMillis: group.lastSeen,
                serving: group.key.serving,
                candidate: group.key.candidate
            )
        }
    }
}

/// A decision's reason by value: outcome, codes, stage, and the rule and grant that decided, named
/// by what they say rather than their position, so that removing one rule does not make every
/// later rule look changed.
struct DecisionReason: Hashable {
    var outcome: Decision.Outcome
    var code: Decision.Code
    var innerCode: Decision.InnerCode?
    var stage: Decision.Stage
    var admission: Admission?
    var grant: Grant?
    var required: String?

    init(_ decision: Decision) {
        outcome = decision.outcome
        code = decision.code
        innerCode = decision.innerCode
        stage = decision.stage
        admission = decision.admittedBy.map {
            var admission = $0
            admission.index = nil
            return admission
        }
        grant = decision.grantedBy.map {
            var grant = $0
            grant.index = nil
            return grant
        }
        required = decision.required
    }
}

extension Decision {
    /// The decision in one line for the shadow report: "allowed by IP rule 3 (203.0.113.0/24),
    /// access policy 0 (objectId …)", "denied ForbiddenByFirewall".
    var words: String {
        switch outcome {
        case .allow:
            return "allowed by " + ([admittedBy?.words, grantedBy?.words].compactMap { $0 }.joined(separator: ", "))
        case .deny:
            var text = "denied \(innerCode?.rawValue ?? code.rawValue)"
            if let admittedBy, stage == .authorization { text += " (admitted by \(admittedBy.words))" }
            if let required, stage == .authorization { text += " (needs \(required))" }
            return text
        }
    }
}

extension Admission {
    /// "IP rule 3 (203.0.113.0/24)", "default action Allow", ….
    var words: String {
        let rule = self.rule.map { " (\($0))" } ?? ""
        let position = index.map { " \($0)" } ?? ""
        switch kind {
        case .ipRule: return "IP rule\(position)\(rule)"
        case .virtualNetworkRule: return "virtual network rule\(position)\(rule)"
        case .privateEndpoint: return "private endpoint\(rule)"
        case .defaultAllow: return "default action Allow"
        case .trustedService: return "trusted service \(service ?? "")\(mode.map { " (\($0.rawValue))" } ?? "")"
        case .perimeter: return "perimeter\(rule)"
        case .notApplicable: return "no network rule (control plane)"
        default: return "\(kind.rawValue)\(position)\(rule)"
        }
    }
}

extension Grant {
    /// "access policy 0 (objectId …)", "role assignment ID (Key Vault Secrets User)".
    var words: String {
        let position = index.map { " \($0)" } ?? ""
        switch kind {
        case .accessPolicy:
            let application = applicationId.map { ", applicationId \($0)" } ?? ""
            return "access policy\(position) (objectId \(objectId ?? "")\(application))"
        case .roleAssignment:
            return "role assignment \(id ?? position)\(role.map { " (\($0))" } ?? "")"
        default:
            return "\(kind.rawValue)\(position)"
        }
    }
}
