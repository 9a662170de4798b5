/// One edit of a rule document, as the control socket's ApplyChange and moatctl's Azure-style
/// verbs express it. `RuleDocumentEditor` applies it to the document's JSON.
public enum DocumentChange: Sendable, Hashable {
    case addIpRule(vault: String, value: String)
    case removeIpRule(vault: String, value: String)
    case addVirtualNetworkRule(vault: String, subnetId: String, ignoreMissingVnetServiceEndpoint: Bool)
    case removeVirtualNetworkRule(vault: String, subnetId: String)
    /// `nil` leaves a setting as it is.
    case updateNetwork(vault: String, defaultAction: String?, bypass: String?, publicNetworkAccess: String?)
    /// Replaces the categories present in `permissions` for the (objectId, applicationId) entry,
    /// creating it in the vault's tenant when absent (like `az keyvault set-policy`).
    case setAccessPolicy(
        vault: String,
        objectId: String,
        applicationId: String?,
        permissions: [PermissionCategory: [String]]
    )
    case deleteAccessPolicy(vault: String, objectId: String, applicationId: String?)
    /// Creates or replaces vaults by name; `vaults` is one vault object or an array of them.
    case upsertVaults(JSONValue, createOnly: Bool)
    case deleteVault(name: String)
}

/// Why a change could not be applied.
public struct DocumentChangeError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The change names a vault, rule or policy that does not exist.
        case notFound
        /// The change itself is malformed (e.g. not a vault object).
        case invalid
    }

    public var kind: Kind
    public var message: String

    public var description: String { message }
}
