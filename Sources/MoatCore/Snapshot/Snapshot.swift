/// A complete, validated, immutable rule set compiled for lookup speed: what checks are answered
/// from. Built once per accepted document, off the request path; shared by reference.
///
/// ```swift
/// let snapshot = try Snapshot(json: bytes, revision: Revision(sequence: 1, hash: hash))
/// let decision = snapshot.evaluate(request, verifier: verifier, context: EvaluationContext(now: now))
/// ```
public final class Snapshot: Sendable {
    public let revision: Revision
    let vaults: [CaseInsensitiveKey: Vault]
    /// Vault names in document order.
    public let vaultNames: [String]
    /// Each tenant's signing keys, for a `TokenVerifier`.
    public let tenants: [TenantKeys]
    public let authentication: AuthenticationSettings
    public let extensions: DocumentExtensions
    /// Sizes of the rule set, for status reports.
    public let counts: Counts

    public struct Counts: Sendable, Hashable {
        public var vaults = 0
        public var ipRules = 0
        public var virtualNetworkRules = 0
        public var accessPolicies = 0
        public var roleAssignments = 0

        public init() {}
    }

    /// Validates and compiles a rule document (`docs/rules.md`). Throws every problem
    /// found, each with its JSON path; nothing partial is ever built.
    public convenience init(json bytes: some Collection<UInt8>, revision: Revision) throws(DocumentError) {
        let document: JSONValue
        do {
            document = try JSONValue(parsing: bytes)
        } catch {
            throw DocumentError(errors: [ValidationError(path: "$", message: "not JSON: \(error)")])
        }
        try self.init(document: document, revision: revision)
    }

    public init(document: JSONValue, revision: Revision) throws(DocumentError) {
        var reader = DocumentReader()
        let root = JSONPath.root
        guard case .object(let members) = document else {
            throw DocumentError(errors: [
                ValidationError(path: "$", message: "expected an object, found \(document.typeName)")
            ])
        }
        reader.checkKeys(
            members,
            root,
            known: [
                "vaults", "tenants", "subnets", "authentication", "extensions", "trustedServices", "roleDefinitions",
                "roleAssignments", "managementGroups",
            ],
            strict: false
        )
        let authentication = reader.authenticationSettings(
            members[member: "authentication"],
            root.appending("authentication")
        )
        let extensions = reader.documentExtensions(members[member: "extensions"], root.appending("extensions"))

        let tenants = reader.tenants(members[member: "tenants"], root.appending("tenants"))
        let subnets = reader.declaredSubnets(members[member: "subnets"], root.appending("subnets"))
        let trustedServices =
            reader.trustedServices(members[member: "trustedServices"], root.appending("trustedServices"))
            ?? TrustedService.defaultCatalog
        let roles = reader.roleDefinitions(members[member: "roleDefinitions"], root.appending("roleDefinitions"))
        let roleAssignments = reader.roleAssignmentIndex(
            assignments: members[member: "roleAssignments"],
            root.appending("roleAssignments"),
            managementGroups: members[member: "managementGroups"],
            root.appending("managementGroups"),
            roles: roles
        )

        let context = VaultCompilationContext(
            tenants: Set(tenants.map(\.tenantId)),
            subnets: subnets,
            authentication: authentication,
            extensions: extensions,
            roleAssignments: roleAssignments,
            trustedServices: trustedServices
        )
        let compiled = reader.vaults(members[member: "vaults"], root.appending("vaults"), context: context)
        var counts = compiled.counts
        counts.roleAssignments = roleAssignments.count

        guard !reader.hasErrors else { throw DocumentError(errors: reader.errors(orderedBy: document)) }
        self.revision = revision
        self.vaults = compiled.vaults
        self.vaultNames = compiled.names
        self.tenants = tenants
        self.authentication = authentication
        self.extensions = extensions
        self.counts = counts
    }
}

/// What compiling a vault needs from the rest of the document.
struct VaultCompilationContext {
    /// Lower-case ids of the tenants the document declares.
    var tenants: Set<String>
    var subnets: [CaseInsensitiveKey: DeclaredSubnet]
    var authentication: AuthenticationSettings
    var extensions: DocumentExtensions
    var roleAssignments: RoleAssignmentIndex
    var trustedServices: [TrustedService]
}
