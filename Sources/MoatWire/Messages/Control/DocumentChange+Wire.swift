internal import CMoatProto
internal import MoatCore

/// `DocumentChange` is the `vault` field and the `change` oneof of `moat.v1.ApplyChangeRequest`.
///
/// `vault` names the vault for every case but `upsertVaults` (sent empty, ignored when decoding);
/// `deleteVault` sends its name there too, with an empty `delete_vault` member. Network settings
/// travel as proto enums and are matched case-insensitively when encoding, so a typo is refused by
/// the client, naming the field, instead of being written into the document; decoding yields the
/// canonical spelling ("Allow", "AzureServices", "SecuredByPerimeter"). A `PermissionList` is
/// present exactly for the categories in `permissions`: present and empty replaces a category with
/// nothing, absent leaves it. `upsertVaults` carries its JSON as compact text.
///
/// Decoding refuses, rather than guesses: no change set (or a member this version does not know),
/// an unknown enum number, an `update_network` that changes nothing, a `set_access_policy` without
/// its entry, and `upsert_vaults` bytes that are not JSON. `remove_virtual_network_rule` ignores
/// `ignore_missing_vnet_service_endpoint`, which only matters when adding a rule.
extension DocumentChange {
    init(cMessage message: borrowing Moat__V1__ApplyChangeRequest) throws(MessageCodingError) {
        let vault = CString.string(message.vault)
        switch message.change_case {
        case MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_ADD_IP_RULE:
            let rule = try Self.member(message.add_ip_rule, "add_ip_rule")
            self = .addIpRule(vault: vault, value: CString.string(rule.value))
        case MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_REMOVE_IP_RULE:
            let rule = try Self.member(message.remove_ip_rule, "remove_ip_rule")
            self = .removeIpRule(vault: vault, value: CString.string(rule.value))
        case MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_ADD_VIRTUAL_NETWORK_RULE:
            let rule = try Self.member(message.add_virtual_network_rule, "add_virtual_network_rule")
            self = .addVirtualNetworkRule(
                vault: vault,
                subnetId: CString.string(rule.id),
                ignoreMissingVnetServiceEndpoint: rule.ignore_missing_vnet_service_endpoint != 0
            )
        case MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_REMOVE_VIRTUAL_NETWORK_RULE:
            let rule = try Self.member(message.remove_virtual_network_rule, "remove_virtual_network_rule")
            self = .removeVirtualNetworkRule(vault: vault, subnetId: CString.string(rule.id))
        case MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_UPDATE_NETWORK:
            let settings = try Self.member(message.update_network, "update_network")
            let defaultAction = try NetworkSpellings.defaultAction.spelling(
                for: settings.default_action.rawValue,
                field: "update_network.default_action"
            )
            let bypass = try NetworkSpellings.bypass.spelling(
                for: settings.bypass.rawValue,
                field: "update_network.bypass"
            )
            let publicNetworkAccess = try NetworkSpellings.publicNetworkAccess.spelling(
                for: settings.public_network_access.rawValue,
                field: "update_network.public_network_access"
            )
            guard defaultAction != nil || bypass != nil || publicNetworkAccess != nil else {
                throw .invalidValue(field: "update_network", "changes nothing: every setting is UNSPECIFIED")
            }
            self = .updateNetwork(
                vault: vault,
                defaultAction: defaultAction,
                bypass: bypass,
                publicNetworkAccess: publicNetworkAccess
            )
        case MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_SET_ACCESS_POLICY:
            let update = try Self.member(message.set_access_policy, "set_access_policy")
            let entry = try Self.member(update.entry, "set_access_policy.entry")
            var permissions: [PermissionCategory: [String]] = [:]
            for category in PermissionCategory.allCases {
                if let list = update[keyPath: category.wireField] {
                    permissions[category] = CString.strings(list.pointee.names, count: list.pointee.n_names)
                }
            }
            self = .setAccessPolicy(
                vault: vault,
                objectId: CString.string(entry.object_id),
                applicationId: CString.optional(entry.application_id),
                permissions: permissions
            )
        case MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_DELETE_ACCESS_POLICY:
            let entry = try Self.member(message.delete_access_policy, "delete_access_policy")
            self = .deleteAccessPolicy(
                vault: vault,
                objectId: CString.string(entry.object_id),
                applicationId: CString.optional(entry.application_id)
            )
        case MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_UPSERT_VAULTS:
            let upsert = try Self.member(message.upsert_vaults, "upsert_vaults")
            let vaults: JSONValue
            do {
                vaults = try JSONValue(parsing: CBytes.array(upsert.vaults))
            } catch {
                throw .invalidValue(field: "upsert_vaults.vaults", "is not JSON (\(error))")
            }
            self = .upsertVaults(vaults, createOnly: upsert.create_only != 0)
        case MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_DELETE_VAULT:
            _ = try Self.member(message.delete_vault, "delete_vault")
            self = .deleteVault(name: vault)
        case MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE__NOT_SET:
            throw .invalidValue(field: "change", "is not set: the request names no change")
        default:
            throw .invalidValue(
                field: "change",
                "holds member \(message.change_case.rawValue), not a change Moat knows"
            )
        }
    }

    /// A oneof member's message; protobuf-c always allocates the member it reports as set, so a
    /// missing one is a broken message rather than an empty change.
    private static func member<Member>(
        _ pointer: UnsafeMutablePointer<Member>?,
        _ field: String
    ) throws(MessageCodingError) -> Member {
        guard let pointer else { throw .invalidValue(field: field, "is missing") }
        return pointer.pointee
    }

    func fill(
        _ message: UnsafeMutablePointer<Moat__V1__ApplyChangeRequest>,
        _ arena: inout PackingArena
    ) throws(MessageCodingError) {
        switch self {
        case .addIpRule(let vault, let value), .removeIpRule(let vault, let value):
            try arena.set(&message.pointee.vault, vault, field: "vault")
            let rule = arena.message(Moat__V1__IpRule.self)
            if case .addIpRule = self {
                try arena.set(&rule.pointee.value, value, field: "add_ip_rule.value")
                message.pointee.change_case = MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_ADD_IP_RULE
                message.pointee.add_ip_rule = rule
            } else {
                try arena.set(&rule.pointee.value, value, field: "remove_ip_rule.value")
                message.pointee.change_case = MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_REMOVE_IP_RULE
                message.pointee.remove_ip_rule = rule
            }
        case .addVirtualNetworkRule(let vault, let subnetId, let ignoreMissingVnetServiceEndpoint):
            try arena.set(&message.pointee.vault, vault, field: "vault")
            let rule = arena.message(Moat__V1__VirtualNetworkRule.self)
            try arena.set(&rule.pointee.id, subnetId, field: "add_virtual_network_rule.id")
            rule.pointee.ignore_missing_vnet_service_endpoint = ignoreMissingVnetServiceEndpoint ? 1 : 0
            message.pointee.change_case = MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_ADD_VIRTUAL_NETWORK_RULE
            message.pointee.add_virtual_network_rule = rule
        case .removeVirtualNetworkRule(let vault, let subnetId):
            try arena.set(&message.pointee.vault, vault, field: "vault")
            let rule = arena.message(Moat__V1__VirtualNetworkRule.self)
            try arena.set(&rule.pointee.id, subnetId, field: "remove_virtual_network_rule.id")
            message.pointee.change_case = MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_REMOVE_VIRTUAL_NETWORK_RULE
            message.pointee.remove_virtual_network_rule = rule
        case .updateNetwork(let vault, let defaultAction, let bypass, let publicNetworkAccess):
            try arena.set(&message.pointee.vault, vault, field: "vault")
            let settings = arena.message(Moat__V1__NetworkSettings.self)
            settings.pointee.default_action = Moat__V1__DefaultAction(
                rawValue: try NetworkSpellings.defaultAction.number(
                    for: defaultAction,
                    field: "update_network.default_action"
                )
            )
            settings.pointee.bypass = Moat__V1__Bypass(
                rawValue: try NetworkSpellings.bypass.number(for: bypass, field: "update_network.bypass")
            )
            settings.pointee.public_network_access = Moat__V1__PublicNetworkAccess(
                rawValue: try NetworkSpellings.publicNetworkAccess.number(
                    for: publicNetworkAccess,
                    field: "update_network.public_network_access"
                )
            )
            message.pointee.change_case = MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_UPDATE_NETWORK
            message.pointee.update_network = settings
        case .setAccessPolicy(let vault, let objectId, let applicationId, let permissions):
            try arena.set(&message.pointee.vault, vault, field: "vault")
            let update = arena.message(Moat__V1__AccessPolicyUpdate.self)
            update.pointee.entry = try Self.accessPolicyKey(
                objectId,
                applicationId,
                field: "set_access_policy.entry",
                &arena
            )
            for category in PermissionCategory.allCases {
                guard let names = permissions[category] else { continue }
                let list = arena.message(Moat__V1__PermissionList.self)
                if !names.isEmpty {
                    let pointers = arena.pointers(to: CChar.self, count: names.count)
                    for (index, name) in names.enumerated() {
                        pointers[index] = try arena.cString(
                            name,
                            field: "set_access_policy.\(category.name).names[\(index)]"
                        )
                    }
                    list.pointee.n_names = names.count
                    list.pointee.names = pointers
                }
                update.pointee[keyPath: category.wireField] = list
            }
            message.pointee.change_case = MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_SET_ACCESS_POLICY
            message.pointee.set_access_policy = update
        case .deleteAccessPolicy(let vault, let objectId, let applicationId):
            try arena.set(&message.pointee.vault, vault, field: "vault")
            message.pointee.change_case = MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_DELETE_ACCESS_POLICY
            message.pointee.delete_access_policy = try Self.accessPolicyKey(
                objectId,
                applicationId,
                field: "delete_access_policy",
                &arena
            )
        case .upsertVaults(let vaults, let createOnly):
            let upsert = arena.message(Moat__V1__VaultUpsert.self)
            arena.set(&upsert.pointee.vaults, vaults.serialized(.compact).utf8)
            upsert.pointee.create_only = createOnly ? 1 : 0
            message.pointee.change_case = MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_UPSERT_VAULTS
            message.pointee.upsert_vaults = upsert
        case .deleteVault(let name):
            try arena.set(&message.pointee.vault, name, field: "vault")
            message.pointee.change_case = MOAT__V1__APPLY_CHANGE_REQUEST__CHANGE_DELETE_VAULT
            message.pointee.delete_vault = arena.message(Moat__V1__VaultRemoval.self)
        }
    }

    private static func accessPolicyKey(
        _ objectId: String,
        _ applicationId: String?,
        field: String,
        _ arena: inout PackingArena
    ) throws(MessageCodingError) -> UnsafeMutablePointer<Moat__V1__AccessPolicyKey> {
        let key = arena.message(Moat__V1__AccessPolicyKey.self)
        try arena.set(&key.pointee.object_id, objectId, field: "\(field).object_id")
        try arena.set(&key.pointee.application_id, applicationId, field: "\(field).application_id")
        return key
    }
}

extension PermissionCategory {
    /// The category's `PermissionList` in an `AccessPolicyUpdate` (the field is named `name`).
    fileprivate var wireField:
        WritableKeyPath<Moat__V1__AccessPolicyUpdate, UnsafeMutablePointer<Moat__V1__PermissionList>?>
    {
        switch self {
        case .keys: \.keys
        case .secrets: \.secrets
        case .certificates: \.certificates
        case .storage: \.storage
        }
    }
}

/// The spellings a rule document uses for the values of one `NetworkSettings` enum, by proto
/// number; number 0 (UNSPECIFIED) is `nil`, "leave the setting as it is".
private struct NetworkSpellings {
    let enumName: String
    let values: [(number: UInt32, spelling: String)]

    static let defaultAction = NetworkSpellings(
        enumName: "DefaultAction",
        values: [
            (MOAT__V1__DEFAULT_ACTION__DEFAULT_ACTION_ALLOW.rawValue, "Allow"),
            (MOAT__V1__DEFAULT_ACTION__DEFAULT_ACTION_DENY.rawValue, "Deny"),
        ]
    )

    static let bypass = NetworkSpellings(
        enumName: "Bypass",
        values: [
            (MOAT__V1__BYPASS__BYPASS_AZURE_SERVICES.rawValue, "AzureServices"),
            (MOAT__V1__BYPASS__BYPASS_NONE.rawValue, "None"),
        ]
    )

    static let publicNetworkAccess = NetworkSpellings(
        enumName: "PublicNetworkAccess",
        values: [
            (MOAT__V1__PUBLIC_NETWORK_ACCESS__PUBLIC_NETWORK_ACCESS_ENABLED.rawValue, "Enabled"),
            (MOAT__V1__PUBLIC_NETWORK_ACCESS__PUBLIC_NETWORK_ACCESS_DISABLED.rawValue, "Disabled"),
            (
                MOAT__V1__PUBLIC_NETWORK_ACCESS__PUBLIC_NETWORK_ACCESS_SECURED_BY_PERIMETER.rawValue,
                "SecuredByPerimeter"
            ),
        ]
    )

    /// The proto number of `spelling` (any case); 0 for `nil`.
    func number(for spelling: String?, field: String) throws(MessageCodingError) -> UInt32 {
        guard let spelling else { return 0 }
        let wanted = spelling.lowercased()
        guard let value = values.first(where: { $0.spelling.lowercased() == wanted }) else {
            let known = values.map { "'\($0.spelling)'" }.joined(separator: ", ")
            throw .invalidValue(field: field, "holds '\(spelling)', not one of \(known)")
        }
        return value.number
    }

    /// The canonical spelling of proto number `number`; `nil` for 0.
    func spelling(for number: UInt32, field: String) throws(MessageCodingError) -> String? {
        guard number != 0 else { return nil }
        guard let value = values.first(where: { $0.number == number }) else {
            throw .invalidValue(field: field, "holds \(number), not a \(enumName) Moat knows")
        }
        return value.spelling
    }
}
