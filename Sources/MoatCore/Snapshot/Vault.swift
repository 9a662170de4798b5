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
    /// Role assignments covering the vault or its objects (RBAC data plane, and the control plane).
    let roleGrants: RoleGrantTable
    /// `properties.networkSecurityPerimeter`, consulted under `SecuredByPerimeter`.
    let perimeter: Perimeter
    /// The document's trusted-services catalog (or the default one).
    let trustedServices: [TrustedService]

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
        accessPolicies: AccessPolicyTable,
        roleGrants: RoleGrantTable,
        perimeter: Perimeter,
        trustedServices: [TrustedService]
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
        self.roleGrants = roleGrants
        self.perimeter = perimeter
        self.trustedServices = trustedServices
    }

    /// How Azure names a vault in denial messages: `name;location=westeurope`.
    var displayName: String { location.map { "\(name);location=\($0)" } ?? name }

    /// The vault's ARM id as Azure's RBAC messages write it (lower case up to the name).
    var resourceId: String {
        let subscription = subscriptionId ?? "<unknown subscription>"
        let group = resourceGroup?.lowercased() ?? "<unknown resource group>"
        return
            "/subscriptions/\(subscription)/resourcegroups/\(group)/providers/microsoft.keyvault/vaults/\(name.lowercased())"
    }
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
    /// IP rules as normalised CIDR text (`203.0.113.9/32`), in document order.
    let ipRules: [String]
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

/// A vault's network security perimeter rules (`docs/semantics.md`, "Stage 2: the network gate", item 4).
struct Perimeter: Sendable {
    /// `inboundAddressPrefixes` as normalised CIDR text, and compiled.
    let addressPrefixes: [String]
    let addressTable: IPPrefixTable
    /// `inboundSubscriptions`: lower-case subscription GUIDs, and how the document wrote each.
    let subscriptions: [String: String]

    static let empty = Perimeter(addressPrefixes: [], addressTable: IPPrefixTable([]), subscriptions: [:])
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
