/// A role assignment as it applies to one vault: who, which role, and how narrow its scope is.
struct RoleGrant: Sendable {
    /// Position in the document's `roleAssignments`.
    let index: Int
    let id: String?
    let roleId: String
    let roleName: String
    let actions: ActionSet
    /// Larger is narrower: root 0, management groups 1…, subscription 100, resource group 101,
    /// vault 102, object 103.
    let depth: Int
    /// Set for object scopes: the assignment covers one key, secret or certificate.
    let object: (category: PermissionCategory, name: String)?
}

/// A vault's role grants, indexed by principal id.
struct RoleGrantTable: Sendable {
    let grantsByPrincipal: [CaseInsensitiveKey: [RoleGrant]]

}

/// The document's role assignments grouped by scope, for handing each vault the ones that cover it.
struct RoleAssignmentIndex {
    /// An assignment with its role resolved.
    struct Assigned {
        let index: Int
        let id: String?
        let principalId: String
        let role: RoleDefinition
        let object: (category: PermissionCategory, name: String)?
    }

    private var root: [Assigned] = []
    private var byManagementGroup: [String: [Assigned]] = [:]
    private var bySubscription: [String: [Assigned]] = [:]
    private var byResourceGroup: [String: [Assigned]] = [:]
    private var byVault: [String: [Assigned]] = [:]
    /// Management groups holding a subscription, directly or through descendants, with their depth.
    private var managementGroupsOfSubscription: [String: [(name: String, depth: Int)]] = [:]
    private(set) var count = 0

    static let subscriptionDepth = 100

    /// The grants that cover a vault with this subscription, resource group and name.
    func grants(subscriptionId: String?, resourceGroup: String?, vaultName: String) -> RoleGrantTable {
        var grants: [CaseInsensitiveKey: [RoleGrant]] = [:]
        func add(_ assigned: [Assigned]?, depth: Int) {
            for assignment in assigned ?? [] {
                grants[CaseInsensitiveKey(assignment.principalId), default: []].append(
                    RoleGrant(
                        index: assignment.index,
                        id: assignment.id,
                        roleId: assignment.role.id,
                        roleName: assignment.role.name,
                        actions: assignment.role.actions,
                        depth: assignment.object == nil ? depth : depth + 1,
                        object: assignment.object
                    )
                )
            }
        }
        add(root, depth: 0)
        if let subscription = subscriptionId?.lowercased() {
            for group in managementGroupsOfSubscription[subscription] ?? [] {
                add(byManagementGroup[group.name], depth: group.depth)
            }
            add(bySubscription[subscription], depth: Self.subscriptionDepth)
            if let group = resourceGroup?.lowercased() {
                add(byResourceGroup["\(subscription)/\(group)"], depth: Self.subscriptionDepth + 1)
                add(byVault["\(subscription)/\(group)/\(vaultName.lowercased())"], depth: Self.subscriptionDepth + 2)
            }
        }
        return RoleGrantTable(grantsByPrincipal: grants)
    }

    fileprivate mutating func insert(_ assigned: Assigned, scope: RoleScope) {
        count += 1
        switch scope {
        case .root: root.append(assigned)
        case .managementGroup(let name): byManagementGroup[name, default: []].append(assigned)
        case .subscription(let s): bySubscription[s, default: []].append(assigned)
        case .resourceGroup(let s, let r): byResourceGroup["\(s)/\(r)", default: []].append(assigned)
        case .vault(let s, let r, let v): byVault["\(s)/\(r)/\(v)", default: []].append(assigned)
        case .unrelated: break
        }
    }

    fileprivate mutating func setManagementGroups(_ groups: [String: [(name: String, depth: Int)]]) {
        managementGroupsOfSubscription = groups
    }
}

/// Where a role assignment applies. Names are lower case; an object scope is a vault scope plus
/// the object (kept on the assignment).
private enum RoleScope {
    case root
    case managementGroup(String)
    case subscription(String)
    case resourceGroup(String, String)
    case vault(String, String, String)
    /// A valid scope that covers no vault (another resource).
    case unrelated

    static let managementGroupPrefix = "/providers/Microsoft.Management/managementGroups/"

    /// Parses a scope; `nil` when it is not an ARM scope. `object` receives an object scope's target.
    static func parse(_ text: String, object: inout (category: PermissionCategory, name: String)?) -> RoleScope? {
        if text == "/" { return .root }
        if text.utf8.count > managementGroupPrefix.utf8.count,
            String(text.prefix(managementGroupPrefix.count)).equalsIgnoringCase(managementGroupPrefix)
        {
            let name = String(text.dropFirst(managementGroupPrefix.count))
            return name.contains("/") ? nil : .managementGroup(name.lowercased())
        }
        guard let id = ResourceID(text), let subscription = id.subscriptionId?.lowercased(), GUID.isValid(subscription)
        else {
            return nil
        }
        guard let group = id.resourceGroup?.lowercased() else { return .subscription(subscription) }
        guard let type = id.type else { return .resourceGroup(subscription, group) }
        let vault = id.names[0].lowercased()
        if type.equalsIgnoringCase("Microsoft.KeyVault/vaults") { return .vault(subscription, group, vault) }
        for category in [PermissionCategory.secrets, .keys, .certificates]
        where type.equalsIgnoringCase("Microsoft.KeyVault/vaults/\(category.name)") {
            object = (category, id.names[1])
            return .vault(subscription, group, vault)
        }
        return .unrelated
    }
}

extension DocumentReader {
    /// Reads `managementGroups`, `roleAssignments` (as ARM or `az role assignment list` returns
    /// them) and resolves each assignment's role.
    mutating func roleAssignmentIndex(
        assignments value: JSONValue?,
        _ path: JSONPath,
        managementGroups groupsValue: JSONValue?,
        _ groupsPath: JSONPath,
        roles: [String: RoleDefinition]
    ) -> RoleAssignmentIndex {
        var index = RoleAssignmentIndex()
        index.setManagementGroups(managementGroups(groupsValue, groupsPath))
        for (position, entry) in (array(value, path) ?? []).enumerated() {
            let entryPath = path.appending(position)
            guard var members = object(entry, entryPath) else {
                if entry == .null { fail(entryPath, "expected an object, found null") }
                continue
            }
            let id = string(members[member: "id"], entryPath.appending("id"))
            var detailsPath = entryPath
            if let properties = object(members[member: "properties"], entryPath.appending("properties")) {
                members = properties
                detailsPath = entryPath.appending("properties")
            }
            if (members[member: "condition"] ?? .null) != .null {
                fail(detailsPath.appending("condition"), "role assignments with a condition are not modelled")
                continue
            }
            let principal = guid(members[member: "principalId"], detailsPath.appending("principalId"))
            var role: RoleDefinition?
            let rolePath = detailsPath.appending("roleDefinitionId")
            if let roleId = string(members[member: "roleDefinitionId"], rolePath) {
                if let guid = RoleDefinition.guid(fromId: roleId) {
                    role = roles[guid]
                    if role == nil {
                        fail(rolePath, "unknown role definition '\(guid)': not built in and not in roleDefinitions")
                    }
                } else {
                    fail(
                        rolePath,
                        "'\(roleId)' is not a role definition id (…/providers/Microsoft.Authorization/roleDefinitions/<GUID>)"
                    )
                }
            } else if (members[member: "roleDefinitionId"] ?? .null) == .null {
                fail(rolePath, "missing required value")
            }
            var objectScope: (category: PermissionCategory, name: String)?
            var scope: RoleScope?
            let scopePath = detailsPath.appending("scope")
            if let text = string(members[member: "scope"], scopePath) {
                scope = RoleScope.parse(text, object: &objectScope)
                if scope == nil { fail(scopePath, "'\(text)' is not an Azure scope") }
            } else if (members[member: "scope"] ?? .null) == .null {
                fail(scopePath, "missing required value")
            }
            guard let principal, let role, let scope else { continue }
            index.insert(
                RoleAssignmentIndex.Assigned(
                    index: position,
                    id: id,
                    principalId: principal,
                    role: role,
                    object: objectScope
                ),
                scope: scope
            )
        }
        return index
    }

    /// Reads `managementGroups: [{id, subscriptions, parent}]` into, for each subscription, the
    /// groups above it with their depth (a top-level group is 1).
    private mutating func managementGroups(
        _ value: JSONValue?,
        _ path: JSONPath
    ) -> [String: [(name: String, depth: Int)]] {
        var parents: [String: String?] = [:]
        var subscriptions: [String: [String]] = [:]
        var paths: [String: JSONPath] = [:]
        func name(_ text: String) -> String {
            (text.split(separator: "/").last.map(String.init) ?? text).lowercased()
        }
        for (index, entry) in (array(value, path) ?? []).enumerated() {
            let entryPath = path.appending(index)
            guard let members = object(entry, entryPath) else { continue }
            checkKeys(members, entryPath, known: ["id", "subscriptions", "parent"], strict: true)
            guard let id = string(members[member: "id"], entryPath.appending("id")) else {
                fail(entryPath.appending("id"), "missing required value")
                continue
            }
            let group = name(id)
            if let first = paths[group] {
                fail(entryPath.appending("id"), "duplicate management group '\(group)' (also \(first))")
                continue
            }
            paths[group] = entryPath
            parents[group] = string(members[member: "parent"], entryPath.appending("parent")).map(name)
            let listPath = entryPath.appending("subscriptions")
            subscriptions[group] = (array(members[member: "subscriptions"], listPath) ?? []).enumerated().compactMap {
                guid($1, listPath.appending($0))
            }
        }
        // Depth and ancestry, refusing unknown parents and cycles.
        var result: [String: [(name: String, depth: Int)]] = [:]
        for (group, groupPath) in paths.sorted(by: { $0.key < $1.key }) {
            var chain: [String] = [group]
            var current = group
            var broken = false
            while let parent = parents[current] ?? nil {
                guard paths[parent] != nil else {
                    // Reported at the group naming it; groups below it are not at fault.
                    if current == group { fail(groupPath.appending("parent"), "unknown management group '\(parent)'") }
                    broken = true
                    break
                }
                if let start = chain.firstIndex(of: parent) {
                    // Report the cycle at its members only; a group hanging below it is not at fault.
                    if start == 0 {
                        fail(
                            groupPath.appending("parent"),
                            "management groups form a cycle: \((chain + [parent]).joined(separator: " → "))"
                        )
                    }
                    broken = true
                    break
                }
                chain.append(parent)
                current = parent
            }
            guard !broken else { continue }
            // chain: group, its parent, …, top. Depth of chain[i] is chain.count - i.
            for subscription in subscriptions[group] ?? [] {
                for (i, member) in chain.enumerated()
                where !(result[subscription] ?? []).contains(where: { $0.name == member }) {
                    result[subscription, default: []].append((member, chain.count - i))
                }
            }
        }
        return result
    }
}
