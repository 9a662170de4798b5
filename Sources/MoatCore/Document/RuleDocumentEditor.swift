/// Applies `DocumentChange`s to a rule document's JSON, keeping everything Moat does not use.
///
/// The editor changes structure only; the result is validated as a whole like any other document
/// before it is accepted. A change that leaves the document as it was reports `changed == false`.
public struct RuleDocumentEditor: Sendable {
    public private(set) var document: JSONValue

    public init(document: JSONValue) {
        self.document = document
    }

    /// Applies `change`; returns whether the document changed.
    @discardableResult
    public mutating func apply(_ change: DocumentChange) throws(DocumentChangeError) -> Bool {
        let before = document
        switch change {
        case .addIpRule(let vault, let value):
            try editNetworkAcls(vault) { (acls: inout JSONValue) throws(DocumentChangeError) in
                var rules = acls["ipRules"]?.arrayValue ?? []
                let wanted = try? IPNetwork(parsing: value)
                let present = rules.contains { rule in
                    guard let existing = rule["value"]?.stringValue else { return false }
                    if let wanted, let parsed = try? IPNetwork(parsing: existing) { return parsed == wanted }
                    return existing == value
                }
                if !present { rules.append(.object([("value", .string(value))])) }
                acls = acls.setting("ipRules", to: .array(rules))
            }
        case .removeIpRule(let vault, let value):
            try editNetworkAcls(vault, create: false) { (acls: inout JSONValue) throws(DocumentChangeError) in
                let rules = acls["ipRules"]?.arrayValue ?? []
                let wanted = try? IPNetwork(parsing: value)
                let kept = rules.filter { rule in
                    guard let existing = rule["value"]?.stringValue else { return true }
                    if let wanted, let parsed = try? IPNetwork(parsing: existing) { return parsed != wanted }
                    return existing != value
                }
                guard kept.count < rules.count else {
                    throw DocumentChangeError(kind: .notFound, message: "vault '\(vault)' has no IP rule '\(value)'")
                }
                acls = acls.setting("ipRules", to: .array(kept))
            }
        case .addVirtualNetworkRule(let vault, let subnetId, let ignoreMissing):
            try editNetworkAcls(vault) { (acls: inout JSONValue) throws(DocumentChangeError) in
                var rules = acls["virtualNetworkRules"]?.arrayValue ?? []
                let entry = JSONValue.object([
                    ("id", .string(subnetId)), ("ignoreMissingVnetServiceEndpoint", .bool(ignoreMissing)),
                ])
                if let index = rules.firstIndex(where: { $0["id"]?.stringValue?.equalsIgnoringCase(subnetId) == true })
                {
                    if rules[index]["ignoreMissingVnetServiceEndpoint"]?.boolValue ?? false != ignoreMissing {
                        rules[index] = rules[index].setting(
                            "ignoreMissingVnetServiceEndpoint",
                            to: .bool(ignoreMissing)
                        )
                    }
                } else {
                    rules.append(entry)
                }
                acls = acls.setting("virtualNetworkRules", to: .array(rules))
            }
        case .removeVirtualNetworkRule(let vault, let subnetId):
            try editNetworkAcls(vault, create: false) { (acls: inout JSONValue) throws(DocumentChangeError) in
                let rules = acls["virtualNetworkRules"]?.arrayValue ?? []
                let kept = rules.filter { $0["id"]?.stringValue?.equalsIgnoringCase(subnetId) != true }
                guard kept.count < rules.count else {
                    throw DocumentChangeError(
                        kind: .notFound,
                        message: "vault '\(vault)' has no virtual network rule '\(subnetId)'"
                    )
                }
                acls = acls.setting("virtualNetworkRules", to: .array(kept))
            }
        case .updateNetwork(let vault, let defaultAction, let bypass, let publicNetworkAccess):
            if defaultAction != nil || bypass != nil {
                try editNetworkAcls(vault) { (acls: inout JSONValue) throws(DocumentChangeError) in
                    if let defaultAction { acls = acls.setting("defaultAction", to: .string(defaultAction)) }
                    if let bypass { acls = acls.setting("bypass", to: .string(bypass)) }
                }
            }
            if let publicNetworkAccess {
                try editProperties(vault) { (properties: inout JSONValue) throws(DocumentChangeError) in
                    properties = properties.setting("publicNetworkAccess", to: .string(publicNetworkAccess))
                }
            }
        case .setAccessPolicy(let vault, let objectId, let applicationId, let permissions):
            try editProperties(vault) { (properties: inout JSONValue) throws(DocumentChangeError) in
                var policies = properties["accessPolicies"]?.arrayValue ?? []
                let index = policies.firstIndex { Self.policy($0, matches: objectId, applicationId) }
                var entry: JSONValue
                if let index {
                    entry = policies[index]
                } else {
                    var members: [(key: String, value: JSONValue)] = [
                        ("tenantId", properties["tenantId"] ?? .null), ("objectId", .string(objectId)),
                    ]
                    if let applicationId { members.append(("applicationId", .string(applicationId))) }
                    members.append(("permissions", .object([])))
                    entry = .object(members)
                }
                var granted = entry["permissions"] ?? .object([])
                if case .null = granted { granted = .object([]) }
                for category in PermissionCategory.allCases {
                    guard let names = permissions[category] else { continue }
                    granted = granted.setting(category.name, to: .array(names.map { .string($0) }))
                }
                entry = entry.setting("permissions", to: granted)
                if let index { policies[index] = entry } else { policies.append(entry) }
                properties = properties.setting("accessPolicies", to: .array(policies))
            }
        case .deleteAccessPolicy(let vault, let objectId, let applicationId):
            try editProperties(vault) { (properties: inout JSONValue) throws(DocumentChangeError) in
                let policies = properties["accessPolicies"]?.arrayValue ?? []
                let kept = policies.filter { !Self.policy($0, matches: objectId, applicationId) }
                guard kept.count < policies.count else {
                    let application = applicationId.map { " and applicationId '\($0)'" } ?? ""
                    throw DocumentChangeError(
                        kind: .notFound,
                        message: "vault '\(vault)' has no access policy for objectId '\(objectId)'\(application)"
                    )
                }
                properties = properties.setting("accessPolicies", to: .array(kept))
            }
        case .upsertVaults(let value, let createOnly):
            let incoming: [JSONValue]
            switch value {
            case .array(let items): incoming = items
            case .object: incoming = [value]
            default:
                throw DocumentChangeError(
                    kind: .invalid,
                    message: "expected a vault object or an array of them, found \(value.typeName)"
                )
            }
            var vaults = document["vaults"]?.arrayValue ?? []
            for (position, vault) in incoming.enumerated() {
                guard case .object = vault, let name = vault["name"]?.stringValue else {
                    throw DocumentChangeError(kind: .invalid, message: "vault \(position) has no name")
                }
                if let index = vaults.firstIndex(where: { $0["name"]?.stringValue?.equalsIgnoringCase(name) == true }) {
                    if createOnly {
                        throw DocumentChangeError(kind: .invalid, message: "vault '\(name)' already exists")
                    }
                    vaults[index] = vault
                } else {
                    vaults.append(vault)
                }
            }
            document = document.setting("vaults", to: .array(vaults))
        case .deleteVault(let name):
            let vaults = document["vaults"]?.arrayValue ?? []
            let kept = vaults.filter { $0["name"]?.stringValue?.equalsIgnoringCase(name) != true }
            guard kept.count < vaults.count else {
                throw DocumentChangeError(kind: .notFound, message: "no vault '\(name)'")
            }
            document = document.setting("vaults", to: .array(kept))
        }
        return document != before
    }

    /// The vault named `name` (case-insensitive), as JSON.
    public func vault(named name: String) -> JSONValue? {
        document["vaults"]?.arrayValue?.first { $0["name"]?.stringValue?.equalsIgnoringCase(name) == true }
    }

    private static func policy(_ entry: JSONValue, matches objectId: String, _ applicationId: String?) -> Bool {
        guard entry["objectId"]?.stringValue?.equalsIgnoringCase(objectId) == true else { return false }
        let existing = entry["applicationId"]?.stringValue
        switch (existing, applicationId) {
        case (nil, nil): return true
        case (let a?, let b?): return a.equalsIgnoringCase(b)
        default: return false
        }
    }

    private mutating func editProperties(
        _ vault: String,
        _ body: (inout JSONValue) throws(DocumentChangeError) -> Void
    ) throws(DocumentChangeError) {
        var vaults = document["vaults"]?.arrayValue ?? []
        guard let index = vaults.firstIndex(where: { $0["name"]?.stringValue?.equalsIgnoringCase(vault) == true })
        else {
            throw DocumentChangeError(kind: .notFound, message: "no vault '\(vault)'")
        }
        var properties = vaults[index]["properties"] ?? .object([])
        if case .null = properties { properties = .object([]) }
        try body(&properties)
        vaults[index] = vaults[index].setting("properties", to: properties)
        document = document.setting("vaults", to: .array(vaults))
    }

    /// Edits `properties.networkAcls`, creating it with Azure's defaults (Allow, AzureServices)
    /// when `create` is set and it is absent.
    private mutating func editNetworkAcls(
        _ vault: String,
        create: Bool = true,
        _ body: (inout JSONValue) throws(DocumentChangeError) -> Void
    ) throws(DocumentChangeError) {
        try editProperties(vault) { (properties: inout JSONValue) throws(DocumentChangeError) in
            var acls = properties["networkAcls"] ?? .null
            if case .null = acls {
                guard create else {
                    throw DocumentChangeError(kind: .notFound, message: "vault '\(vault)' has no network rules")
                }
                acls = .object([
                    ("bypass", .string("AzureServices")), ("defaultAction", .string("Allow")), ("ipRules", .array([])),
                    ("virtualNetworkRules", .array([])),
                ])
            }
            try body(&acls)
            properties = properties.setting("networkAcls", to: acls)
        }
    }
}
