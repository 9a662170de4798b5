/// An Azure role: a name and the actions it grants, resolved against Moat's operation table when
/// the snapshot is compiled (`docs/semantics.md`, "Stage 3: authorization").
struct RoleDefinition: Sendable {
    /// The role's GUID, lower case.
    let id: String
    let name: String
    let actions: ActionSet

    init(id: String, name: String, actions: ActionSet) {
        self.id = id
        self.name = name
        self.actions = actions
    }

    private init(
        _ id: String,
        _ name: String,
        actions: [String] = [],
        notActions: [String] = [],
        dataActions: [String] = []
    ) {
        self.init(
            id: id,
            name: name,
            actions: ActionSet(
                actions: actions,
                notActions: notActions,
                dataActions: dataActions.map { "Microsoft.KeyVault/vaults/" + $0 },
                notDataActions: []
            )
        )
    }

    /// The built-in Key Vault data roles and the general control-plane roles.
    static let builtIn: [RoleDefinition] = [
        RoleDefinition("00482a5a-887f-4fb3-b363-3b7fe8e74483", "Key Vault Administrator", dataActions: ["*"]),
        RoleDefinition(
            "21090545-7ca7-4776-b22c-e363652d74d2",
            "Key Vault Reader",
            dataActions: ["*/read", "secrets/readMetadata/action"]
        ),
        RoleDefinition("b86a8fe4-44ce-4948-aee5-eccb2c155cd7", "Key Vault Secrets Officer", dataActions: ["secrets/*"]),
        RoleDefinition(
            "4633458b-17de-408a-b874-0445c86b69e6",
            "Key Vault Secrets User",
            dataActions: ["secrets/getSecret/action", "secrets/readMetadata/action"]
        ),
        RoleDefinition(
            "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
            "Key Vault Crypto Officer",
            dataActions: ["keys/*", "keyrotationpolicies/*"]
        ),
        RoleDefinition(
            "12338af0-0e69-4776-bea7-57ae8d297424",
            "Key Vault Crypto User",
            dataActions: [
                "keys/read", "keys/update/action", "keys/backup/action", "keys/encrypt/action", "keys/decrypt/action",
                "keys/wrap/action", "keys/unwrap/action", "keys/sign/action", "keys/verify/action",
            ]
        ),
        RoleDefinition(
            "e147488a-f6f5-4113-8e2d-b22465e65bf6",
            "Key Vault Crypto Service Encryption User",
            dataActions: ["keys/read", "keys/wrap/action", "keys/unwrap/action"]
        ),
        RoleDefinition(
            "08bbd89e-9f13-488c-ac41-acfcb10c90ab",
            "Key Vault Crypto Service Release User",
            dataActions: ["keys/release/action"]
        ),
        RoleDefinition(
            "a4417e6f-fecd-4de8-b567-7b0420556985",
            "Key Vault Certificates Officer",
            dataActions: ["certificatecas/*", "certificates/*", "certificatecontacts/write"]
        ),
        RoleDefinition(
            "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba",
            "Key Vault Certificate User",
            dataActions: [
                "certificates/read", "secrets/getSecret/action", "secrets/readMetadata/action", "keys/read",
            ]
        ),
        RoleDefinition("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner", actions: ["*"]),
        RoleDefinition(
            "b24988ac-6180-42a0-ab88-20f7382dd24c",
            "Contributor",
            actions: ["*"],
            notActions: [
                "Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action",
            ]
        ),
        RoleDefinition(
            "f25e0fa2-a7c8-4377-a976-54943a77a395",
            "Key Vault Contributor",
            actions: ["Microsoft.KeyVault/*"]
        ),
        RoleDefinition("acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader", actions: ["*/read"]),
    ]
}

extension DocumentReader {
    /// Reads `roleDefinitions`: custom roles as ARM (`properties.roleName`, `properties.permissions`)
    /// or `az role definition list` (flat) returns them. Keyed by GUID, built-in roles included.
    mutating func roleDefinitions(_ value: JSONValue?, _ path: JSONPath) -> [String: RoleDefinition] {
        var roles = Dictionary(uniqueKeysWithValues: RoleDefinition.builtIn.map { ($0.id, $0) })
        var paths: [String: JSONPath] = [:]
        for (index, entry) in (array(value, path) ?? []).enumerated() {
            let entryPath = path.appending(index)
            guard var members = object(entry, entryPath) else {
                if entry == .null { fail(entryPath, "expected an object, found null") }
                continue
            }
            var detailsPath = entryPath
            let topLevel = members
            if let properties = object(members[member: "properties"], entryPath.appending("properties")) {
                members = properties
                detailsPath = entryPath.appending("properties")
            }
            // The GUID: `name`, or the last segment of `id`.
            var guid: String?
            if let name = string(topLevel[member: "name"], entryPath.appending("name")), GUID.isValid(name) {
                guid = name.lowercased()
            } else if let id = string(topLevel[member: "id"], entryPath.appending("id")) {
                guid = RoleDefinition.guid(fromId: id)
            }
            guard let guid else {
                fail(entryPath.appending("id"), "a role definition needs its GUID as `name` or at the end of `id`")
                continue
            }
            if roles[guid] != nil && paths[guid] == nil {
                fail(entryPath.appending("id"), "role '\(guid)' is a built-in role; custom roles need their own GUID")
                continue
            }
            if let first = paths[guid] {
                fail(entryPath.appending("id"), "duplicate role definition '\(guid)' (also \(first))")
                continue
            }
            let roleName = string(members[member: "roleName"], detailsPath.appending("roleName")) ?? guid
            var actions: [String] = []
            var notActions: [String] = []
            var dataActions: [String] = []
            var notDataActions: [String] = []
            let permissionsPath = detailsPath.appending("permissions")
            for (i, permission) in (array(members[member: "permissions"], permissionsPath) ?? []).enumerated() {
                let permissionPath = permissionsPath.appending(i)
                guard let lists = object(permission, permissionPath) else { continue }
                checkKeys(
                    lists,
                    permissionPath,
                    known: ["actions", "notActions", "dataActions", "notDataActions", "condition", "conditionVersion"],
                    strict: true
                )
                if (lists[member: "condition"] ?? .null) != .null {
                    fail(permissionPath.appending("condition"), "conditions in role definitions are not modelled")
                }
                func strings(_ key: String) -> [String] {
                    let listPath = permissionPath.appending(key)
                    return (array(lists[member: key], listPath) ?? []).enumerated().compactMap {
                        string($1, listPath.appending($0))
                    }
                }
                actions += strings("actions")
                notActions += strings("notActions")
                dataActions += strings("dataActions")
                notDataActions += strings("notDataActions")
            }
            paths[guid] = entryPath
            roles[guid] = RoleDefinition(
                id: guid,
                name: roleName,
                actions: ActionSet(
                    actions: actions,
                    notActions: notActions,
                    dataActions: dataActions,
                    notDataActions: notDataActions
                )
            )
        }
        return roles
    }
}

extension RoleDefinition {
    /// The GUID after `roleDefinitions/` (whatever precedes it), or a bare GUID; lower case.
    static func guid(fromId id: String) -> String? {
        let last = id.split(separator: "/").last.map(String.init) ?? id
        let marked = id.contains("/") ? id.lowercased().contains("/roledefinitions/") : true
        return marked && GUID.isValid(last) ? last.lowercased() : nil
    }
}
