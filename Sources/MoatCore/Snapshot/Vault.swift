/// One vault of a snapshot, compiled for lookup speed. A class: checks hold it by reference.
final class Vault: Sendable {
    /// The name as the document writes it.
    let name: String
    /// Position in the document's `vaults`.
    let index: Int
    let location: String?
    /// Lower-case GUIDs; `nil` when the document neither gives them nor an `id` to derive them from.
    let subscriptionId: String?
    let resourceGroup: String?
    let tenantId: String
    /// Issuers accepted for this vault's tenant.
    let issuers: [String]
    /// The `WWW-Authenticate` value of this vault's 401 answers.
    let challenge: String
    let publicNetworkAccess: PublicNetworkAccess
    /// `nil` when the document has no `networkAcls`: everything is admitted.
    let firewall: Firewall?
    /// Private endpoint connections by private endpoint id; only `Approved` ones admit.
    let privateEndpoints: [CaseInsensitiveKey: PrivateEndpointStatus]
    let enableRbacAuthorization: Bool
    let accessPolicies: AccessPolicyTable

    init(
        name: String,
        index: Int,
        location: String?,
        subscriptionId: String?,
        resourceGroup: String?,
        tenantId: String,
        issuers: [String],
        challenge: String,
        publicNetworkAccess: PublicNetworkAccess,
        firewall: Firewall?,
        privateEndpoints: [CaseInsensitiveKey: PrivateEndpointStatus],
        enableRbacAuthorization: Bool,
        accessPolicies: AccessPolicyTable
    ) {
        self.name = name
        self.index = index
        self.location = location
        self.subscriptionId = subscriptionId
        self.resourceGroup = resourceGroup
        self.tenantId = tenantId
        self.issuers = issuers
        self.challenge = challenge
        self.publicNetworkAccess = publicNetworkAccess
        self.firewall = firewall
        self.privateEndpoints = privateEndpoints
        self.enableRbacAuthorization = enableRbacAuthorization
        self.accessPolicies = accessPolicies
    }

    /// How Azure names a vault in denial messages: `name;location=westeurope`.
    var displayName: String { location.map { "\(name);location=\($0)" } ?? name }
}

enum PublicNetworkAccess: String, Sendable, CaseIterable {
    case enabled = "Enabled"
    case disabled = "Disabled"
    case securedByPerimeter = "SecuredByPerimeter"
}

enum PrivateEndpointStatus: String, Sendable, CaseIterable {
    case approved = "Approved"
    case pending = "Pending"
    case rejected = "Rejected"
    case disconnected = "Disconnected"
}

/// A vault's `networkAcls`, compiled.
struct Firewall: Sendable {
    let defaultActionDeny: Bool
    let bypassAzureServices: Bool
    /// IP rules as normalised prefixes, in document order.
    let ipRules: [IPNetwork]
    /// Longest-prefix lookup from a source address to an IP rule's index.
    let ipRuleTable: IPPrefixTable
    /// Virtual network rules' subnet ids as written, in document order.
    let virtualNetworkRules: [String]
    /// Subnet id → the lowest index of a virtual network rule naming it.
    let virtualNetworkRuleBySubnet: [CaseInsensitiveKey: Int]
    /// Prefixes of declared subnets (with the Key Vault service endpoint) that virtual network
    /// rules name → that rule's index: a source address inside them arrived through the subnet.
    let virtualNetworkRuleByPrefix: IPPrefixTable
}

/// A vault's access policies, indexed by object id.
struct AccessPolicyTable: Sendable {
    struct Entry: Sendable {
        let index: Int
        let objectId: String
        /// Set on compound entries (the user through this application).
        let applicationId: String?
        let permissions: PermissionSet
    }

    let entriesByObjectId: [CaseInsensitiveKey: [Entry]]
    let count: Int
}
