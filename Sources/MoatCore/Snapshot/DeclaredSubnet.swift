/// A subnet the document declares (top-level `subnets`), so that a source address inside it
/// counts as arriving through it, and so that virtual network rules can be checked against its
/// service endpoints (`docs/semantics.md`, "Stage 2: the network gate").
struct DeclaredSubnet: Sendable {
    let id: String
    let prefixes: [IPNetwork]
    /// Whether the subnet has the `Microsoft.KeyVault` service endpoint.
    let hasKeyVaultEndpoint: Bool
}

extension DocumentReader {
    /// Reads `subnets`: entries `{id, addressPrefix | addressPrefixes, serviceEndpoints}`, flat or
    /// nested under `properties` as ARM returns them; service endpoints as names or `{service}` objects.
    mutating func declaredSubnets(_ value: JSONValue?, _ path: JSONPath) -> [CaseInsensitiveKey: DeclaredSubnet] {
        var subnets: [CaseInsensitiveKey: DeclaredSubnet] = [:]
        var paths: [CaseInsensitiveKey: JSONPath] = [:]
        for (index, entry) in (array(value, path) ?? []).enumerated() {
            let entryPath = path.appending(index)
            guard let members = object(entry, entryPath) else {
                if entry == .null { fail(entryPath, "expected an object, found null") }
                continue
            }
            checkKeys(
                members,
                entryPath,
                known: ["id", "addressPrefix", "addressPrefixes", "serviceEndpoints", "properties"],
                strict: false
            )
            guard let id = string(members[member: "id"], entryPath.appending("id")) else {
                if (members[member: "id"] ?? .null) == .null {
                    fail(entryPath.appending("id"), "missing required value")
                }
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
            if let first = paths[key] {
                fail(entryPath.appending("id"), "duplicate subnet '\(id)' (also \(first))")
                continue
            }
            paths[key] = entryPath

            // ARM nests the details under `properties`; `az network vnet subnet show` output too.
            var details = members
            var detailsPath = entryPath
            if let properties = object(members[member: "properties"], entryPath.appending("properties")) {
                details = properties
                detailsPath = entryPath.appending("properties")
            }
            var prefixes: [IPNetwork] = []
            if let single = string(details[member: "addressPrefix"], detailsPath.appending("addressPrefix")) {
                if let prefix = addressPrefix(single, detailsPath.appending("addressPrefix")) {
                    prefixes.append(prefix)
                }
            }
            let listPath = detailsPath.appending("addressPrefixes")
            for (i, item) in (array(details[member: "addressPrefixes"], listPath) ?? []).enumerated() {
                if let text = string(item, listPath.appending(i)),
                    let prefix = addressPrefix(text, listPath.appending(i))
                {
                    prefixes.append(prefix)
                }
            }
            var hasKeyVaultEndpoint = false
            let endpointsPath = detailsPath.appending("serviceEndpoints")
            for (i, item) in (array(details[member: "serviceEndpoints"], endpointsPath) ?? []).enumerated() {
                let service: String?
                if case .object(let endpoint) = item {
                    service = string(endpoint[member: "service"], endpointsPath.appending(i).appending("service"))
                } else {
                    service = string(item, endpointsPath.appending(i))
                }
                if service?.equalsIgnoringCase("Microsoft.KeyVault") == true { hasKeyVaultEndpoint = true }
            }
            subnets[key] = DeclaredSubnet(id: id, prefixes: prefixes, hasKeyVaultEndpoint: hasKeyVaultEndpoint)
        }
        return subnets
    }

    /// An IPv4 or IPv6 address or prefix, host bits clear.
    mutating func addressPrefix(_ text: String, _ path: JSONPath) -> IPNetwork? {
        do {
            return try IPNetwork(parsing: text)
        } catch .hostBitsSet(let network) {
            fail(path, "'\(text)' has host bits set; the network is \(network)")
        } catch {
            fail(path, "'\(text)' is not an IPv4 or IPv6 address or prefix")
        }
        return nil
    }
}
