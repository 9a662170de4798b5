import MoatCore
import MoatWire

/// Sample values covering every field of the control-socket messages and every `DocumentChange` case.
extension Fixtures {
    static let subnetId =
        "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s"

    /// One vault as `az keyvault show` prints it (members deliberately not in sorted order).
    static let vaultJSON: JSONValue = .object([
        ("name", .string("contoso-prod")),
        ("location", .string("westeurope")),
        (
            "properties",
            .object([
                ("tenantId", .string("33333333-3333-3333-3333-333333333333")),
                ("enableRbacAuthorization", .bool(false)),
                ("softDeleteRetentionInDays", .number("90")),
                ("ratio", .number("1.50e+0")),
                ("networkAcls", .null),
                ("tags", .object([("owner", .string("Grüße 🔑 \"quoted\" \\ a\u{0}b\n"))])),
            ])
        ),
    ])

    static let changes: [DocumentChange] = [
        .addIpRule(vault: "contoso-prod", value: "203.0.113.0/24"),
        .addIpRule(vault: "", value: ""),
        .removeIpRule(vault: "ключ-хранилище", value: "10.0.0.1"),
        .addVirtualNetworkRule(vault: "v", subnetId: subnetId, ignoreMissingVnetServiceEndpoint: true),
        .addVirtualNetworkRule(vault: "v", subnetId: subnetId, ignoreMissingVnetServiceEndpoint: false),
        .removeVirtualNetworkRule(vault: "v", subnetId: subnetId),
        .updateNetwork(vault: "v", defaultAction: "Deny", bypass: "AzureServices", publicNetworkAccess: "Enabled"),
        .updateNetwork(vault: "v", defaultAction: "Allow", bypass: nil, publicNetworkAccess: nil),
        .updateNetwork(vault: "v", defaultAction: nil, bypass: "None", publicNetworkAccess: nil),
        .updateNetwork(vault: "v", defaultAction: nil, bypass: nil, publicNetworkAccess: "Disabled"),
        .updateNetwork(vault: "v", defaultAction: nil, bypass: nil, publicNetworkAccess: "SecuredByPerimeter"),
        .setAccessPolicy(
            vault: "v",
            objectId: "11111111-1111-1111-1111-111111111111",
            applicationId: "22222222-2222-2222-2222-222222222222",
            permissions: [
                .keys: ["get", "wrapKey", "unwrapKey"],
                .secrets: ["get", "list"],
                .certificates: ["managecontacts"],
                .storage: ["regeneratekey", "getsas"],
            ]
        ),
        // An empty list replaces the category with nothing; the absent ones are left as they are.
        .setAccessPolicy(vault: "v", objectId: "o", applicationId: nil, permissions: [.secrets: []]),
        .setAccessPolicy(vault: "v", objectId: "o", applicationId: nil, permissions: [.storage: [], .keys: ["all"]]),
        .setAccessPolicy(vault: "v", objectId: "o", applicationId: "a", permissions: [:]),
        .deleteAccessPolicy(vault: "v", objectId: "o", applicationId: nil),
        .deleteAccessPolicy(vault: "v", objectId: "o", applicationId: "a"),
        .upsertVaults(vaultJSON, createOnly: false),
        .upsertVaults(vaultJSON, createOnly: true),
        .upsertVaults(.array([vaultJSON, .object([("name", .string("second"))])]), createOnly: false),
        .upsertVaults(.array([]), createOnly: true),
        .deleteVault(name: "contoso-old"),
    ]

    static let history: [Revision] = [
        Revision(sequence: 6, hash: "00112233445566ff"),
        Revision(sequence: 5, hash: ""),
        Revision(sequence: .max, hash: "ffffffffffffffff"),
    ]

    /// A rule document with bytes no string field may hold: the `bytes` fields carry them unchecked.
    static let documentBytes: [UInt8] = Array(#"{"vaults": [], "note": "Grüße"}"#.utf8) + [0, 0xff, 0xc0, 0x0a]

    static let statusResponses: [StatusResponse] = [
        StatusResponse(ready: false),
        {
            var confirmed = StatusResponse(ready: true, revision: revision, loadedAtUnixMillis: 1_767_225_600_123)
            confirmed.rulesConfirmedAtUnixMillis = 1_767_225_601_456
            confirmed.maximumSnapshotAgeSeconds = .max
            return confirmed
        }(),
        StatusResponse(
            ready: false,
            notReadyReason: "the rules file /etc/moat/rules.json is invalid: 3 errors",
            rulesFile: "/etc/moat/rules.json",
            uptimeSeconds: 12,
            reloadFailures: 4,
            lastReloadError: "vaults[0].properties.tenantId: not a GUID"
        ),
        StatusResponse(
            ready: true,
            revision: revision,
            loadedAtUnixMillis: 1_767_225_600_123,
            rulesFile: "/var/lib/moat/правила.json",
            uptimeSeconds: .max,
            vaults: 3,
            ipRules: 120,
            virtualNetworkRules: 7,
            accessPolicies: 42,
            roleAssignments: Int(UInt32.max),
            history: history,
            reloadFailures: .max,
            lastReloadError: "x"
        ),
        StatusResponse(ready: true, revision: Revision(sequence: 0, hash: ""), loadedAtUnixMillis: -1),
        {
            var response = StatusResponse(ready: false, notReadyReason: "no signing keys yet for tenant t")
            response.tenantKeys = tenantKeys
            return response
        }(),
        StatusResponse(ready: true, revision: revision, loadedAtUnixMillis: .min, history: [revision]),
    ]

    /// Every field of `TenantKeys` set, and a tenant with the document's keys only.
    static let tenantKeys: [TenantKeysStatus] = [
        TenantKeysStatus(
            tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
            source: "openIdConfiguration https://login.microsoftonline.com/t/v2.0/.well-known/openid-configuration",
            keyIDs: ["JDNa_4i4r7FgigL3sHIlI3xV-IU", "PoVKeirIOvmTyLQ9G9BenBwos7k"],
            origin: "fetched",
            fetchedAtUnixMillis: 1_767_225_600_123,
            nextRefreshUnixMillis: 1_767_312_000_123,
            lastError: "fetching the key set failed: HTTP 503"
        ),
        TenantKeysStatus(tenantId: "0c8f6a52-7d3e-4b1a-9f2e-5a6b7c8d9e0f", keyIDs: ["doc-1"], origin: "document"),
    ]
}
