/// What admitted a request's network source (README.md, "Requests and decisions", `admittedBy`).
public struct Admission: Sendable, Hashable {
    /// Extensible like ``Decision/Code``: a kind added later does not break a client's `switch`.
    public struct Kind: RawRepresentable, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// The JSON name, `"IpRule"`.
        public let rawValue: String
        /// The audit log's `addressAuthorizationType`.
        public let addressAuthorizationType: String

        private init(_ rawValue: String, addressAuthorizationType: String) {
            self.rawValue = rawValue
            self.addressAuthorizationType = addressAuthorizationType
        }

        /// The kind of that JSON name; `nil` for a name Moat does not know.
        public init?(rawValue: String) {
            guard let known = knownCase(Self.self, rawValue) else { return nil }
            self = known
        }

        public static let privateEndpoint = Kind("PrivateEndpoint", addressAuthorizationType: "PrivateLink")
        public static let defaultAllow = Kind("DefaultAllow", addressAuthorizationType: "DefaultAllow")
        public static let ipRule = Kind("IpRule", addressAuthorizationType: "PublicIP")
        public static let virtualNetworkRule = Kind("VirtualNetworkRule", addressAuthorizationType: "Subnet")
        public static let trustedService = Kind("TrustedService", addressAuthorizationType: "TrustedService")
        public static let perimeter = Kind("Perimeter", addressAuthorizationType: "Perimeter")
        public static let notApplicable = Kind("NotApplicable", addressAuthorizationType: "NotApplicable")

        public static let allCases: [Kind] = [
            .privateEndpoint, .defaultAllow, .ipRule, .virtualNetworkRule, .trustedService, .perimeter, .notApplicable,
        ]

        public var description: String { rawValue }
    }

    /// How a trusted service was recognised (`docs/trusted-services.md`); extensible like ``Kind``.
    public struct TrustedServiceMode: RawRepresentable, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// The JSON name, `"managedIdentity"`.
        public let rawValue: String

        private init(_ rawValue: String) {
            self.rawValue = rawValue
        }

        /// The mode of that JSON name; `nil` for a name Moat does not know.
        public init?(rawValue: String) {
            guard let known = knownCase(Self.self, rawValue) else { return nil }
            self = known
        }

        public static let managedIdentity = TrustedServiceMode("managedIdentity")
        public static let subscription = TrustedServiceMode("subscription")
        public static let federated = TrustedServiceMode("federated")

        public static let allCases: [TrustedServiceMode] = [.managedIdentity, .subscription, .federated]

        public var description: String { rawValue }
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
    /// Extensible like ``Admission/Kind``.
    public struct Kind: RawRepresentable, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// The JSON name, `"AccessPolicy"`.
        public let rawValue: String

        private init(_ rawValue: String) {
            self.rawValue = rawValue
        }

        /// The kind of that JSON name; `nil` for a name Moat does not know.
        public init?(rawValue: String) {
            guard let known = knownCase(Self.self, rawValue) else { return nil }
            self = known
        }

        public static let accessPolicy = Kind("AccessPolicy")
        public static let roleAssignment = Kind("RoleAssignment")

        public static let allCases: [Kind] = [.accessPolicy, .roleAssignment]

        public var description: String { rawValue }
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

/// The static member of an extensible code type (``Decision/Code`` and its kin) named `rawValue`;
/// `nil` for a name this version does not know.
func knownCase<Value: CaseIterable & RawRepresentable>(_: Value.Type, _ rawValue: Value.RawValue) -> Value?
where Value.RawValue: Equatable {
    Value.allCases.first { $0.rawValue == rawValue }
}
