/// The four access-policy permission categories of a Key Vault (`docs/semantics.md`, "Stage 3: authorization").
public enum PermissionCategory: Int, CaseIterable, Sendable, Hashable {
    case keys
    case secrets
    case certificates
    case storage

    /// The key of this category in an access-policy entry's `permissions` object.
    public var name: String {
        switch self {
        case .keys: "keys"
        case .secrets: "secrets"
        case .certificates: "certificates"
        case .storage: "storage"
        }
    }

    /// The category's permission names in their canonical spelling, in bit order.
    public var permissionNames: [String] {
        switch self {
        case .keys:
            [
                "encrypt", "decrypt", "wrapKey", "unwrapKey", "sign", "verify", "get", "list", "create", "update",
                "import", "delete", "backup", "restore", "recover", "purge", "release", "rotate",
                "getrotationpolicy", "setrotationpolicy",
            ]
        case .secrets:
            ["get", "list", "set", "delete", "backup", "restore", "recover", "purge"]
        case .certificates:
            [
                "get", "list", "delete", "create", "import", "update", "managecontacts", "getissuers", "listissuers",
                "setissuers", "deleteissuers", "manageissuers", "recover", "purge", "backup", "restore",
            ]
        case .storage:
            [
                "get", "list", "delete", "set", "update", "regeneratekey", "recover", "purge", "backup", "restore",
                "setsas", "listsas", "getsas", "deletesas",
            ]
        }
    }

    /// Position of the category's first bit in a `PermissionSet`.
    var bitOffset: Int {
        switch self {
        case .keys: 0
        case .secrets: 20
        case .certificates: 28
        case .storage: 44
        }
    }

    /// Every permission of the category: what `all` grants.
    public var all: PermissionSet {
        PermissionSet(rawValue: ((1 << UInt64(permissionNames.count)) - 1) << UInt64(bitOffset))
    }

    /// The permission named `name` (case-insensitive), `nil` for an unknown name. `all` is not a permission.
    public func permission(named name: String) -> Permission? {
        let wanted = name.lowercased()
        guard let index = permissionNames.firstIndex(where: { $0.lowercased() == wanted }) else { return nil }
        return Permission(category: self, index: index)
    }
}

/// One access-policy permission, such as `secrets/get`.
public struct Permission: Sendable, Hashable, CustomStringConvertible {
    public let category: PermissionCategory
    let index: Int

    /// The canonical spelling, e.g. `wrapKey`.
    public var name: String { category.permissionNames[index] }

    /// `category/name` in lower case, as decisions report it (`secrets/get`, `keys/wrapkey`).
    public var description: String { "\(category.name)/\(name.lowercased())" }

    public var set: PermissionSet { PermissionSet(rawValue: 1 << UInt64(category.bitOffset + index)) }
}

/// Permissions of all categories as one bit set.
public struct PermissionSet: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// The permissions in the set, category by category in bit order.
    public var permissions: [Permission] {
        PermissionCategory.allCases.flatMap { category in
            category.permissionNames.indices.map { Permission(category: category, index: $0) }
        }.filter { contains($0.set) }
    }
}
