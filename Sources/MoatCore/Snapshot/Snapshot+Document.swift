/// Reading a rule document (`docs/rules.md`) into what a `Snapshot` holds: `tenants`, `vaults` and
/// every member of a vault are read here (the other top-level members beside their own types:
/// `DeclaredSubnet`, `TrustedService`, the role definitions and assignments); `Snapshot.init` only
/// calls the readers and keeps what they built.
extension DocumentReader {
    /// Reads `tenants`: each tenant's id (unique), its inline signing keys (`kid`s unique per tenant) and
    /// where moatd keeps them current (`KeySource`).
    mutating func tenants(_ value: JSONValue?, _ tenantsPath: JSONPath) -> [TenantKeys] {
        var tenants: [TenantKeys] = []
        var tenantPaths: [String: JSONPath] = [:]
        for (index, value) in (array(value, tenantsPath) ?? []).enumerated() {
            let path = tenantsPath.appending(index)
            guard let tenant = object(value, path) else {
                if value == .null { fail(path, "expected an object, found null") }
                continue
            }
            guard let id = guid(tenant[member: "id"], path.appending("id")) else { continue }
            if let first = tenantPaths[id] {
                fail(path.appending("id"), "duplicate tenant '\(id)' (also \(first))")
                continue
            }
            tenantPaths[id] = path
            let source = keySource(tenant, path)
            let hasSource = KeySource.members.contains { (tenant[member: $0] ?? .null) != .null }
            if !hasSource && (tenant[member: "jwks"] ?? .null) == .null {
                fail(
                    path.appending("jwks"),
                    "missing required value: the tenant's signing keys (jwks, or openIdConfiguration, jwksUri or jwksFile)"
                )
            }
            let keys = jwksKeys(tenant[member: "jwks"], path.appending("jwks"), required: false)
            tenants.append(TenantKeys(tenantId: id, keys: keys, source: source))
        }
        return tenants
    }

    /// Reads and compiles `vaults` (names unique, case-insensitively), counting what they hold.
    mutating func vaults(
        _ value: JSONValue?,
        _ vaultsPath: JSONPath,
        context: VaultCompilationContext
    ) -> (vaults: [CaseInsensitiveKey: Vault], names: [String], counts: Snapshot.Counts) {
        var vaults: [CaseInsensitiveKey: Vault] = [:]
        var vaultNames: [String] = []
        var counts = Snapshot.Counts()
        for (index, value) in (array(value, vaultsPath) ?? []).enumerated() {
            let path = vaultsPath.appending(index)
            guard let vault = vault(value, path, context: context) else { continue }
            let key = CaseInsensitiveKey(vault.name)
            if let first = vaults[key] {
                fail(
                    path.appending("name"),
                    "duplicate vault name '\(vault.name)' (also \(vaultsPath.appending(first.index)))"
                )
                continue
            }
            vaults[key] = vault
            vaultNames.append(vault.name)
            counts.vaults += 1
            counts.ipRules += vault.firewall?.ipRules.count ?? 0
            counts.virtualNetworkRules += vault.firewall?.virtualNetworkRules.count ?? 0
            counts.accessPolicies += vault.accessPolicies.count
        }
        return (vaults, vaultNames, counts)
    }

    /// Reads and validates one entry of `vaults` (`docs/rules.md`); `nil` when it has errors.
    mutating func vault(_ value: JSONValue, _ path: JSONPath, context: VaultCompilationContext) -> Vault? {
        guard let members = object(value, path) else {
            if value == .null { fail(path, "expected an object, found null") }
            return nil
        }
        let errorsBefore = problemCount
        checkKeys(
            members,
            path,
            known: ["name", "id", "subscriptionId", "resourceGroup", "location", "properties"],
            strict: false
        )
        let name = string(members[member: "name"], path.appending("name"))
        if let name {
            if !Vault.isValidName(name) {
                fail(path.appending("name"), "'\(name)' is not a vault name: 3 to 24 letters, digits and hyphens")
            }
        } else if (members[member: "name"] ?? .null) == .null {
            fail(path.appending("name"), "missing required value")
        }
        let location = string(members[member: "location"], path.appending("location"))

        // Subscription and resource group: given, or derived from the ARM id.
        var subscriptionId = guid(members[member: "subscriptionId"], path.appending("subscriptionId"), required: false)
        var resourceGroup = string(members[member: "resourceGroup"], path.appending("resourceGroup"))
        if let id = string(members[member: "id"], path.appending("id")) {
            let resource = ResourceID(id)
            if let resource, resource.type?.equalsIgnoringCase("Microsoft.KeyVault/vaults") == true,
                let subscription = resource.subscriptionId, GUID.isValid(subscription)
            {
                if let name, !resource.names[0].equalsIgnoringCase(name) {
                    fail(path.appending("id"), "names vault '\(resource.names[0])' but the entry's name is '\(name)'")
                }
                subscriptionId = subscriptionId ?? subscription.lowercased()
                resourceGroup = resourceGroup ?? resource.resourceGroup
            } else {
                fail(
                    path.appending("id"),
                    "'\(id)' is not a vault id (/subscriptions/…/resourceGroups/…/providers/Microsoft.KeyVault/vaults/…)"
                )
            }
        }

        let propertiesPath = path.appending("properties")
        guard let properties = object(members[member: "properties"], propertiesPath) else {
            if (members[member: "properties"] ?? .null) == .null { fail(propertiesPath, "missing required value") }
            return nil
        }
        checkKeys(
            properties,
            propertiesPath,
            known: [
                "tenantId", "publicNetworkAccess", "networkAcls", "enableRbacAuthorization", "accessPolicies",
                "privateEndpointConnections", "networkSecurityPerimeter",
            ],
            strict: false
        )
        let tenantId = guid(properties[member: "tenantId"], propertiesPath.appending("tenantId"))
        if let tenantId, !context.tenants.contains(tenantId) {
            fail(
                propertiesPath.appending("tenantId"),
                "tenant '\(tenantId)' has no entry in tenants: its signing keys are needed to verify tokens"
            )
        }
        let access =
            choice(
                properties[member: "publicNetworkAccess"],
                propertiesPath.appending("publicNetworkAccess"),
                of: PublicNetworkAccess.allCases.map(\.rawValue)
            ).flatMap(PublicNetworkAccess.init(rawValue:)) ?? .enabled
        let firewall = self.firewall(
            properties[member: "networkAcls"],
            propertiesPath.appending("networkAcls"),
            context: context
        )
        let privateEndpoints = self.privateEndpoints(
            properties[member: "privateEndpointConnections"],
            propertiesPath.appending("privateEndpointConnections")
        )
        let rbac =
            bool(properties[member: "enableRbacAuthorization"], propertiesPath.appending("enableRbacAuthorization"))
            ?? false
        let accessPolicies = self.accessPolicies(
            properties[member: "accessPolicies"],
            propertiesPath.appending("accessPolicies"),
            vaultTenant: tenantId,
            limit: context.extensions.maxAccessPolicies
        )

        let perimeter = self.perimeter(
            properties[member: "networkSecurityPerimeter"],
            propertiesPath.appending("networkSecurityPerimeter")
        )

        guard problemCount == errorsBefore, let name, let tenantId else { return nil }
        return Vault(
            name: name,
            index: path.lastIndex ?? 0,
            location: location,
            subscriptionId: subscriptionId,
            resourceGroup: resourceGroup,
            tenantId: tenantId,
            issuers: context.authentication.issuers(forTenant: tenantId),
            challenge: context.authentication.challenge(forTenant: tenantId),
            publicNetworkAccess: access,
            firewall: firewall,
            privateEndpoints: privateEndpoints,
            enableRbacAuthorization: rbac,
            accessPolicies: accessPolicies,
            roleGrants: context.roleAssignments.grants(
                subscriptionId: subscriptionId,
                resourceGroup: resourceGroup,
                vaultName: name
            ),
            perimeter: perimeter,
            trustedServices: context.trustedServices
        )
    }

    /// Reads `networkSecurityPerimeter: {inboundAddressPrefixes, inboundSubscriptions}`.
    private mutating func perimeter(_ value: JSONValue?, _ path: JSONPath) -> Perimeter {
        guard let members = object(value, path) else { return .empty }
        checkKeys(members, path, known: ["inboundAddressPrefixes", "inboundSubscriptions"], strict: true)
        var prefixes: [IPNetwork] = []
        let prefixesPath = path.appending("inboundAddressPrefixes")
        for (i, item) in (array(members[member: "inboundAddressPrefixes"], prefixesPath) ?? []).enumerated() {
            if let text = string(item, prefixesPath.appending(i)),
                let prefix = addressPrefix(text, prefixesPath.appending(i))
            {
                prefixes.append(prefix)
            }
        }
        var subscriptions: [String: String] = [:]
        let subscriptionsPath = path.appending("inboundSubscriptions")
        for (i, item) in (array(members[member: "inboundSubscriptions"], subscriptionsPath) ?? []).enumerated() {
            guard let text = string(item, subscriptionsPath.appending(i)) else { continue }
            // A bare GUID or `/subscriptions/<GUID>`.
            let guid =
                text.hasPrefix("/")
                ? ResourceID(text).flatMap { $0.type == nil && $0.resourceGroup == nil ? $0.subscriptionId : nil }
                : text
            guard let guid, GUID.isValid(guid) else {
                fail(subscriptionsPath.appending(i), "'\(text)' is not a subscription id")
                continue
            }
            subscriptions[guid.lowercased()] = subscriptions[guid.lowercased()] ?? text
        }
        return Perimeter(
            addressPrefixes: prefixes.map(\.description),
            addressTable: IPPrefixTable(prefixes.enumerated().map { ($1, Int32($0)) }),
            subscriptions: subscriptions
        )
    }

    private static let privateRanges: [(network: IPNetwork, text: String)] = [
        (IPNetwork(address: .v4(0x0a00_0000), prefixLength: 8), "10.0.0.0–10.255.255.255"),
        (IPNetwork(address: .v4(0xac10_0000), prefixLength: 12), "172.16.0.0–172.31.255.255"),
        (IPNetwork(address: .v4(0xc0a8_0000), prefixLength: 16), "192.168.0.0–192.168.255.255"),
    ]

    private mutating func firewall(_ value: JSONValue?, _ path: JSONPath, context: VaultCompilationContext) -> Firewall?
    {
        guard let acls = object(value, path) else { return nil }
        checkKeys(acls, path, known: ["bypass", "defaultAction", "ipRules", "virtualNetworkRules"], strict: true)
        let bypass =
            choice(acls[member: "bypass"], path.appending("bypass"), of: ["AzureServices", "None"]) ?? "AzureServices"
        let defaultAction =
            choice(acls[member: "defaultAction"], path.appending("defaultAction"), of: ["Allow", "Deny"]) ?? "Allow"
        let extensions = context.extensions

        // IP rules.
        let ipRulesPath = path.appending("ipRules")
        let ipRuleValues = array(acls[member: "ipRules"], ipRulesPath) ?? []
        if ipRuleValues.count > extensions.maxIpRules {
            fail(
                ipRulesPath,
                "\(ipRuleValues.count) IP rules; the limit is \(extensions.maxIpRules) (extensions.maxIpRules raises it)"
            )
        }
        var ipRules: [IPNetwork] = []
        var seen: [IPNetwork: Int] = [:]
        for (index, entry) in ipRuleValues.enumerated() {
            let entryPath = ipRulesPath.appending(index)
            guard let rule = object(entry, entryPath) else {
                if entry == .null { fail(entryPath, "expected an object, found null") }
                continue
            }
            checkKeys(rule, entryPath, known: ["value"], strict: true)
            let valuePath = entryPath.appending("value")
            guard let text = string(rule[member: "value"], valuePath) else {
                if (rule[member: "value"] ?? .null) == .null { fail(valuePath, "missing required value") }
                continue
            }
            guard let network = ipRule(text, valuePath, extensions: extensions) else { continue }
            if let first = seen[network] {
                fail(valuePath, "duplicate IP rule '\(text)' (same as ipRules[\(first)], \(network))")
                continue
            }
            seen[network] = index
            ipRules.append(network)
        }

        // Virtual network rules.
        let vnetPath = path.appending("virtualNetworkRules")
        let vnetValues = array(acls[member: "virtualNetworkRules"], vnetPath) ?? []
        if vnetValues.count > extensions.maxVirtualNetworkRules {
            fail(
                vnetPath,
                "\(vnetValues.count) virtual network rules; the limit is \(extensions.maxVirtualNetworkRules) (extensions.maxVirtualNetworkRules raises it)"
            )
        }
        var vnetRules: [String] = []
        var bySubnet: [CaseInsensitiveKey: Int] = [:]
        var prefixEntries: [(network: IPNetwork, index: Int32)] = []
        for (index, entry) in vnetValues.enumerated() {
            let entryPath = vnetPath.appending(index)
            guard let rule = object(entry, entryPath) else {
                if entry == .null { fail(entryPath, "expected an object, found null") }
                continue
            }
            checkKeys(rule, entryPath, known: ["id", "ignoreMissingVnetServiceEndpoint"], strict: true)
            let ignoreMissing =
                bool(
                    rule[member: "ignoreMissingVnetServiceEndpoint"],
                    entryPath.appending("ignoreMissingVnetServiceEndpoint")
                ) ?? false
            guard let id = string(rule[member: "id"], entryPath.appending("id")) else {
                if (rule[member: "id"] ?? .null) == .null { fail(entryPath.appending("id"), "missing required value") }
                continue
            }
            guard ResourceID(id)?.isSubnet == true else {
                fail(
                    entryPath.appending("id"),
                    "'\(id)' is not a subnet id (/subscriptions/…/resourceGroups/…/providers/Microsoft.Network/virtualNetworks/…/subnets/…)"
                )
                continue
            }
            let key = CaseInsensitiveKey(id)
            if let first = bySubnet[key] {
                fail(
                    entryPath.appending("id"),
                    "duplicate virtual network rule '\(id)' (also virtualNetworkRules[\(first)])"
                )
                continue
            }
            if let subnet = context.subnets[key] {
                if !subnet.hasKeyVaultEndpoint && !ignoreMissing {
                    fail(
                        entryPath.appending("id"),
                        "subnet '\(id)' does not have the Microsoft.KeyVault service endpoint (set ignoreMissingVnetServiceEndpoint to add the rule anyway)"
                    )
                    continue
                }
                if subnet.hasKeyVaultEndpoint {
                    prefixEntries += subnet.prefixes.map { ($0, Int32(index)) }
                }
            }
            bySubnet[key] = index
            vnetRules.append(id)
        }

        return Firewall(
            defaultActionDeny: defaultAction == "Deny",
            bypassAzureServices: bypass == "AzureServices",
            ipRules: ipRules.map(\.description),
            ipRuleTable: IPPrefixTable(ipRules.enumerated().map { ($1, Int32($0)) }),
            virtualNetworkRules: vnetRules,
            virtualNetworkRuleBySubnet: bySubnet,
            virtualNetworkRuleByPrefix: IPPrefixTable(prefixEntries)
        )
    }

    /// Validates one `ipRules[].value` as Azure's resource provider does (`docs/rules.md`).
    private mutating func ipRule(_ text: String, _ path: JSONPath, extensions: DocumentExtensions) -> IPNetwork? {
        let network: IPNetwork
        do {
            network = try IPNetwork(parsing: text)
        } catch .hostBitsSet(let masked) {
            fail(path, "'\(text)' has host bits set; the network is \(masked)")
            return nil
        } catch {
            fail(path, "'\(text)' is not an IPv4 address or CIDR range")
            return nil
        }
        if (!network.address.isIPv4 || text.contains(":")) && !extensions.allowIpv6Rules {
            fail(
                path,
                "'\(text)' is an IPv6 rule; Azure Key Vault accepts IPv4 rules only (extensions.allowIpv6Rules allows them)"
            )
            return nil
        }
        if !extensions.allowPrivateIpRules {
            for range in Self.privateRanges where range.network.overlaps(network) {
                let verb = network.prefixLength >= range.network.prefixLength ? "belongs to" : "overlaps"
                fail(path, "'\(text)' \(verb) forbidden range \(range.text) (private IP addresses)")
                return nil
            }
        }
        return network
    }

    private mutating func privateEndpoints(
        _ value: JSONValue?,
        _ path: JSONPath
    ) -> [CaseInsensitiveKey: PrivateEndpointStatus] {
        var endpoints: [CaseInsensitiveKey: PrivateEndpointStatus] = [:]
        for (index, entry) in (array(value, path) ?? []).enumerated() {
            let entryPath = path.appending(index)
            guard var connection = object(entry, entryPath) else {
                if entry == .null { fail(entryPath, "expected an object, found null") }
                continue
            }
            // ARM nests the connection under `properties`; `az keyvault show` writes it flat.
            var connectionPath = entryPath
            if connection[member: "privateEndpoint"] == nil,
                let nested = object(connection[member: "properties"], entryPath.appending("properties"))
            {
                connection = nested
                connectionPath = entryPath.appending("properties")
            }
            let endpointPath = connectionPath.appending("privateEndpoint")
            let endpoint = object(connection[member: "privateEndpoint"], endpointPath)
            let id = string(endpoint?[member: "id"], endpointPath.appending("id"))
            if id == nil { fail(endpointPath.appending("id"), "missing required value") }
            let statePath = connectionPath.appending("privateLinkServiceConnectionState")
            let state = object(connection[member: "privateLinkServiceConnectionState"], statePath)
            let status = choice(
                state?[member: "status"],
                statePath.appending("status"),
                of: PrivateEndpointStatus.allCases.map(\.rawValue)
            )
            if state?[member: "status"] == nil { fail(statePath.appending("status"), "missing required value") }
            guard let id, let status = status.flatMap(PrivateEndpointStatus.init(rawValue:)) else { continue }
            // The first connection of an endpoint counts (ARM has one per endpoint).
            if endpoints[CaseInsensitiveKey(id)] == nil { endpoints[CaseInsensitiveKey(id)] = status }
        }
        return endpoints
    }

    private mutating func accessPolicies(
        _ value: JSONValue?,
        _ path: JSONPath,
        vaultTenant: String?,
        limit: Int
    ) -> AccessPolicyTable {
        let values = array(value, path) ?? []
        if values.count > limit {
            fail(
                path,
                "\(values.count) access policies; the limit is \(limit) (extensions.maxAccessPolicies raises it)"
            )
        }
        var byObjectId: [CaseInsensitiveKey: [AccessPolicyTable.Entry]] = [:]
        var seen: [String: Int] = [:]
        var count = 0
        for (index, entry) in values.enumerated() {
            let entryPath = path.appending(index)
            guard let policy = object(entry, entryPath) else {
                if entry == .null { fail(entryPath, "expected an object, found null") }
                continue
            }
            checkKeys(policy, entryPath, known: ["tenantId", "objectId", "applicationId", "permissions"], strict: true)
            let tenant = guid(policy[member: "tenantId"], entryPath.appending("tenantId"))
            if let tenant, let vaultTenant, tenant != vaultTenant {
                fail(entryPath.appending("tenantId"), "'\(tenant)' is not the vault's tenant '\(vaultTenant)'")
            }
            let objectId = guid(policy[member: "objectId"], entryPath.appending("objectId"))
            let applicationId = guid(
                policy[member: "applicationId"],
                entryPath.appending("applicationId"),
                required: false
            )
            let permissionsPath = entryPath.appending("permissions")
            var permissions = PermissionSet()
            if let categories = object(policy[member: "permissions"], permissionsPath) {
                checkKeys(categories, permissionsPath, known: PermissionCategory.allCases.map(\.name), strict: true)
                for category in PermissionCategory.allCases {
                    let categoryPath = permissionsPath.appending(category.name)
                    for (i, item) in (array(categories[member: category.name], categoryPath) ?? []).enumerated() {
                        guard let name = string(item, categoryPath.appending(i)) else { continue }
                        if name.equalsIgnoringCase("all") {
                            permissions.formUnion(category.all)
                        } else if let permission = category.permission(named: name) {
                            permissions.insert(permission.set)
                        } else {
                            fail(
                                categoryPath.appending(i),
                                "unknown \(category.name) permission '\(name)'; expected all or one of \(category.permissionNames.joined(separator: ", "))"
                            )
                        }
                    }
                }
            } else if (policy[member: "permissions"] ?? .null) == .null {
                fail(permissionsPath, "missing required value")
            }
            guard let objectId else { continue }
            let identity = objectId + "/" + (applicationId ?? "")
            if let first = seen[identity] {
                fail(
                    entryPath,
                    "duplicate access policy for objectId '\(objectId)'\(applicationId.map { " and applicationId '\($0)'" } ?? "") (also accessPolicies[\(first)])"
                )
                continue
            }
            seen[identity] = index
            byObjectId[CaseInsensitiveKey(objectId), default: []].append(
                AccessPolicyTable.Entry(
                    index: index,
                    objectId: objectId,
                    applicationId: applicationId,
                    permissions: permissions
                )
            )
            count += 1
        }
        return AccessPolicyTable(entriesByObjectId: byObjectId, count: count)
    }
}

extension Vault {
    /// `^[a-zA-Z0-9-]{3,24}$` (`docs/semantics.md`, "Stage 0: the request and the vault").
    static func isValidName(_ name: String) -> Bool {
        let utf8 = name.utf8
        return (3...24).contains(utf8.count)
            && utf8.allSatisfy { byte in
                let lower = byte | 0x20
                return (lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
            }
    }
}
