/// What admitted a request's network source (README.md, "Requests and decisions", `admittedBy`).
public struct Admission: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case privateEndpoint = "PrivateEndpoint"
        case defaultAllow = "DefaultAllow"
        case ipRule = "IpRule"
        case virtualNetworkRule = "VirtualNetworkRule"
        case trustedService = "TrustedService"
        case perimeter = "Perimeter"
        case notApplicable = "NotApplicable"

        /// The audit log's `addressAuthorizationType`.
        public var addressAuthorizationType: String {
            switch self {
            case .privateEndpoint: "PrivateLink"
            case .defaultAllow: "DefaultAllow"
            case .ipRule: "PublicIP"
            case .virtualNetworkRule: "Subnet"
            case .trustedService: "TrustedService"
            case .perimeter: "Perimeter"
            case .notApplicable: "NotApplicable"
            }
        }
    }

    /// How a trusted service was recognised (`docs/trusted-services.md`).
    public enum TrustedServiceMode: String, Sendable, Hashable, CaseIterable {
        case managedIdentity
        case subscription
        case federated
    }

    public var kind: Kind
    /// 0-based position of the rule in the document (IP and virtual network rules).
    public var index: Int?
    /// The CIDR, subnet id, private endpoint id, or perimeter prefix or subscription.
    public var rule: String?
    /// The trusted service's catalog name.
    public var service: String?
    public var mode: TrustedServiceMode?

    public init(
        kind: Kind,
        index: Int? = nil,
        rule: String? = nil,
        service: String? = nil,
        mode: TrustedServiceMode? = nil
    ) {
        self.kind = kind
        self.index = index
        self.rule = rule
        self.service = service
        self.mode = mode
    }
}

/// What granted the permission (README.md, "Requests and decisions", `grantedBy`).
public struct Grant: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case accessPolicy = "AccessPolicy"
        case roleAssignment = "RoleAssignment"
    }

    public var kind: Kind
    /// 0-based position of the access-policy entry or role assignment in the document.
    public var index: Int?
    public var objectId: String?
    public var applicationId: String?
    /// The role assignment's id.
    public var id: String?
    /// The role's name, e.g. "Key Vault Secrets User".
    public var role: String?
    public var roleDefinitionId: String?

    public init(
        kind: Kind,
        index: Int? = nil,
        objectId: String? = nil,
        applicationId: String? = nil,
        id: String? = nil,
        role: String? = nil,
        roleDefinitionId: String? = nil
    ) {
        self.kind = kind
        self.index = index
        self.objectId = objectId
        self.applicationId = applicationId
        self.id = id
        self.role = role
        self.roleDefinitionId = roleDefinitionId
    }
}
