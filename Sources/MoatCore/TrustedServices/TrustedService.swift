/// One entry of the trusted-services catalog (`docs/trusted-services.md`): how to recognise a
/// Microsoft service that may pass a vault's firewall when `bypass` is `AzureServices`.
struct TrustedService: Sendable {
    let name: String
    /// Application ids the service authenticates as (`subscription`, `federated` modes).
    let applicationIds: Set<CaseInsensitiveKey>
    /// The modes to try, in the fixed order managedIdentity, subscription, federated.
    let modes: [Admission.TrustedServiceMode]
    /// The operations it may perform through the bypass; `nil` for every data-plane operation.
    let operations: Set<Operation>?
    /// ARM type whose system-assigned identities are the service, e.g. `Microsoft.Sql/servers`.
    let resourceProvider: String?
    /// User-assigned identities (ARM ids) trusted as the service.
    let managedIdentityResourceIds: Set<CaseInsensitiveKey>

    /// Whether `claims` show this service acting on a vault in `vaultSubscription` through `mode`.
    func recognises(
        _ claims: TokenClaims,
        operation: Operation,
        mode: Admission.TrustedServiceMode,
        vaultSubscription: String?
    ) -> Bool {
        if let operations, !operations.contains(operation) { return false }
        switch mode {
        case .managedIdentity:
            let identity = claims.managedIdentityResourceId
            guard !identity.isEmpty else { return false }
            if managedIdentityResourceIds.contains(CaseInsensitiveKey(identity)) { return true }
            guard let resourceProvider, let type = claims.managedIdentityResource?.type else { return false }
            return type.equalsIgnoringCase(resourceProvider)
        case .subscription:
            guard let vaultSubscription, applicationIds.contains(CaseInsensitiveKey(claims.applicationId)) else {
                return false
            }
            return claims.managedIdentityResource?.subscriptionId?.equalsIgnoringCase(vaultSubscription) == true
                || claims.azureResource?.subscriptionId?.equalsIgnoringCase(vaultSubscription) == true
        case .federated:
            // The authentication stage already required the vault's tenant as issuer and `tid`.
            return applicationIds.contains(CaseInsensitiveKey(claims.applicationId))
        default:
            // The modes are the static members above; a mode this engine does not know admits nobody.
            return false
        }
    }
}

extension DocumentReader {
    /// Reads a `trustedServices` catalog; `nil` when the document has none (the default applies).
    mutating func trustedServices(_ value: JSONValue?, _ path: JSONPath) -> [TrustedService]? {
        guard let entries = array(value, path) else { return nil }
        var services: [TrustedService] = []
        var names: [String: Int] = [:]
        for (index, entry) in entries.enumerated() {
            let entryPath = path.appending(index)
            guard let members = object(entry, entryPath) else {
                if entry == .null { fail(entryPath, "expected an object, found null") }
                continue
            }
            let keys = [
                "name", "applicationIds", "modes", "operations", "resourceProvider", "managedIdentityResourceIds",
            ]
            checkKeys(members, entryPath, known: keys, strict: true)
            let name = string(members[member: "name"], entryPath.appending("name"))
            if name == nil { fail(entryPath.appending("name"), "missing required value") }
            if let name, let first = names[name.lowercased()] {
                fail(
                    entryPath.appending("name"),
                    "duplicate trusted service '\(name)' (also trustedServices[\(first)])"
                )
            }
            let idsPath = entryPath.appending("applicationIds")
            let listedIds = array(members[member: "applicationIds"], idsPath) ?? []
            let applicationIds = listedIds.enumerated().compactMap { guid($1, idsPath.appending($0)) }
            let modesPath = entryPath.appending("modes")
            var modes = Set<Admission.TrustedServiceMode>()
            for (i, item) in (array(members[member: "modes"], modesPath) ?? []).enumerated() {
                let names = Admission.TrustedServiceMode.allCases.map(\.rawValue)
                if let mode = choice(item, modesPath.appending(i), of: names).flatMap(
                    Admission.TrustedServiceMode.init(rawValue:)
                ) {
                    modes.insert(mode)
                }
            }
            if modes.isEmpty { fail(modesPath, "must list at least one of managedIdentity, subscription, federated") }
            var operations: Set<Operation>?
            let operationsPath = entryPath.appending("operations")
            if let items = array(members[member: "operations"], operationsPath) {
                operations = []
                for (i, item) in items.enumerated() {
                    guard let text = string(item, operationsPath.appending(i)) else { continue }
                    guard let operation = Operation(name: text), !operation.isControlPlane else {
                        fail(operationsPath.appending(i), "'\(text)' is not a data-plane Key Vault operation")
                        continue
                    }
                    operations?.insert(operation)
                }
            }
            let provider = string(members[member: "resourceProvider"], entryPath.appending("resourceProvider"))
            if let provider, provider.split(separator: "/").count < 2 {
                fail(
                    entryPath.appending("resourceProvider"),
                    "'\(provider)' is not a resource type such as Microsoft.Sql/servers"
                )
            }
            let identitiesPath = entryPath.appending("managedIdentityResourceIds")
            let identities = (array(members[member: "managedIdentityResourceIds"], identitiesPath) ?? []).enumerated()
                .compactMap { i, item -> String? in
                    guard let id = string(item, identitiesPath.appending(i)) else { return nil }
                    guard ResourceID(id)?.type != nil else {
                        fail(identitiesPath.appending(i), "'\(id)' is not an ARM resource id")
                        return nil
                    }
                    return id
                }
            if modes.contains(.managedIdentity) && provider == nil && identities.isEmpty {
                fail(
                    entryPath.appending("resourceProvider"),
                    "managedIdentity mode needs resourceProvider or managedIdentityResourceIds"
                )
            }
            if (modes.contains(.subscription) || modes.contains(.federated)) && listedIds.isEmpty {
                fail(idsPath, "subscription and federated modes need applicationIds")
            }
            guard let name else { continue }
            names[name.lowercased()] = index
            services.append(
                TrustedService(
                    name: name,
                    applicationIds: Set(applicationIds.map(CaseInsensitiveKey.init)),
                    modes: Admission.TrustedServiceMode.allCases.filter(modes.contains),
                    operations: operations,
                    resourceProvider: provider,
                    managedIdentityResourceIds: Set(identities.map(CaseInsensitiveKey.init))
                )
            )
        }
        return services
    }
}
