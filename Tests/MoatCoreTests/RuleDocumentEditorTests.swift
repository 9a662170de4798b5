import MoatCore
import Testing

@Suite("Editing a rule document")
struct RuleDocumentEditorTests {
    static let document = try! JSONValue(
        parsing: """
            {"custom": {"kept": [1.50, true]},
             "vaults": [
               {"name": "Contoso-Prod", "tags": {"team": "a"},
                "properties": {"tenantId": "T", "sku": {"name": "standard"},
                  "networkAcls": {"bypass": "AzureServices", "defaultAction": "Deny",
                                  "ipRules": [{"value": "203.0.113.9"}], "virtualNetworkRules": []},
                  "accessPolicies": [{"tenantId": "T", "objectId": "O1", "permissions": {"secrets": ["get"], "keys": ["get"]}}]}},
               {"name": "open", "properties": {"tenantId": "T"}}]}
            """
    )

    static func editing(_ change: DocumentChange) throws(DocumentChangeError) -> (changed: Bool, document: JSONValue) {
        var editor = RuleDocumentEditor(document: document)
        let changed = try editor.apply(change)
        return (changed, editor.document)
    }

    static func vault(_ document: JSONValue, _ index: Int) -> JSONValue { document["vaults"]!.arrayValue![index] }

    @Test("adding an IP rule appends it as written; one already there (after normalising) changes nothing")
    func addIpRule() throws {
        let added = try Self.editing(.addIpRule(vault: "contoso-prod", value: "198.51.100.0/24"))
        #expect(added.changed)
        #expect(Self.vault(added.document, 0)["properties"]!["networkAcls"]!["ipRules"]!.arrayValue!.count == 2)
        #expect(!(try Self.editing(.addIpRule(vault: "CONTOSO-PROD", value: "203.0.113.9/32")).changed))
        #expect(!(try Self.editing(.addIpRule(vault: "contoso-prod", value: "203.0.113.9")).changed))
    }

    @Test("everything the change does not touch is kept, values as written")
    func keepsTheRest() throws {
        let result = try Self.editing(.addIpRule(vault: "contoso-prod", value: "198.51.100.7"))
        #expect(result.document["custom"] == Self.document["custom"])
        #expect(Self.vault(result.document, 0)["tags"] == Self.vault(Self.document, 0)["tags"])
        #expect(
            Self.vault(result.document, 0)["properties"]!["sku"] == Self.vault(Self.document, 0)["properties"]!["sku"]
        )
        #expect(Self.vault(result.document, 1) == Self.vault(Self.document, 1))
    }

    @Test("a vault without networkAcls gets Azure's defaults with the new rule")
    func createsNetworkAcls() throws {
        let result = try Self.editing(.addIpRule(vault: "open", value: "198.51.100.7"))
        let acls = Self.vault(result.document, 1)["properties"]!["networkAcls"]!
        #expect(acls["defaultAction"] == .string("Allow"))
        #expect(acls["bypass"] == .string("AzureServices"))
        #expect(acls["ipRules"] == .array([.object([("value", .string("198.51.100.7"))])]))
    }

    @Test(
        "changes naming what does not exist are NOT_FOUND",
        arguments: [
            DocumentChange.removeIpRule(vault: "contoso-prod", value: "192.0.2.1"),
            .removeVirtualNetworkRule(
                vault: "contoso-prod",
                subnetId: "/subscriptions/x/resourceGroups/r/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
            ),
            .deleteAccessPolicy(vault: "contoso-prod", objectId: "nobody", applicationId: nil),
            .deleteAccessPolicy(vault: "contoso-prod", objectId: "O1", applicationId: "A"),
            .deleteVault(name: "missing"),
            .addIpRule(vault: "missing", value: "192.0.2.1"),
            .removeIpRule(vault: "open", value: "192.0.2.1"),
        ]
    )
    func notFound(change: DocumentChange) {
        let error = #expect(throws: DocumentChangeError.self) { try Self.editing(change) }
        #expect(error?.kind == .notFound)
    }

    @Test("removing an IP rule matches it after normalising")
    func removeIpRule() throws {
        let result = try Self.editing(.removeIpRule(vault: "contoso-prod", value: "203.0.113.9/32"))
        #expect(result.changed)
        #expect(Self.vault(result.document, 0)["properties"]!["networkAcls"]!["ipRules"] == .array([]))
    }

    @Test("set-policy replaces the categories named and keeps the others; creates entries in the vault's tenant")
    func setPolicy() throws {
        let replaced = try Self.editing(
            .setAccessPolicy(
                vault: "contoso-prod",
                objectId: "o1",
                applicationId: nil,
                permissions: [.secrets: ["get", "list"]]
            )
        )
        let permissions = Self.vault(replaced.document, 0)["properties"]!["accessPolicies"]!.arrayValue![0][
            "permissions"
        ]!
        #expect(permissions["secrets"] == .array([.string("get"), .string("list")]))
        #expect(permissions["keys"] == .array([.string("get")]))

        let cleared = try Self.editing(
            .setAccessPolicy(vault: "contoso-prod", objectId: "O1", applicationId: nil, permissions: [.keys: []])
        )
        #expect(
            Self.vault(cleared.document, 0)["properties"]!["accessPolicies"]!.arrayValue![0]["permissions"]!["keys"]
                == .array([])
        )

        let created = try Self.editing(
            .setAccessPolicy(
                vault: "contoso-prod",
                objectId: "O1",
                applicationId: "A1",
                permissions: [.certificates: ["get"]]
            )
        )
        let policies = Self.vault(created.document, 0)["properties"]!["accessPolicies"]!.arrayValue!
        #expect(policies.count == 2)
        #expect(policies[1]["tenantId"] == .string("T"))
        #expect(policies[1]["applicationId"] == .string("A1"))

        #expect(
            !(try Self.editing(
                .setAccessPolicy(
                    vault: "contoso-prod",
                    objectId: "O1",
                    applicationId: nil,
                    permissions: [.secrets: ["get"]]
                )
            ).changed)
        )
    }

    @Test("vaults: upsert by name, create-only refuses an existing one, delete")
    func vaults() throws {
        let replacement = JSONValue.object([
            ("name", .string("OPEN")), ("properties", .object([("tenantId", .string("T2"))])),
        ])
        let upserted = try Self.editing(.upsertVaults(.array([replacement]), createOnly: false))
        #expect(upserted.document["vaults"]!.arrayValue!.count == 2)
        #expect(Self.vault(upserted.document, 1) == replacement)
        let exists = #expect(throws: DocumentChangeError.self) {
            try Self.editing(.upsertVaults(replacement, createOnly: true))
        }
        #expect(exists?.kind == .invalid && exists?.message == "vault 'OPEN' already exists")
        let created = try Self.editing(
            .upsertVaults(replacement.setting("name", to: .string("fresh")), createOnly: true)
        )
        #expect(created.changed && created.document["vaults"]!.arrayValue!.count == 3)
        let deleted = try Self.editing(.deleteVault(name: "OPEN"))
        #expect(deleted.document["vaults"]!.arrayValue!.map { $0["name"] } == [.string("Contoso-Prod")])
    }

    @Test("network settings: only the ones given change")
    func updateNetwork() throws {
        let result = try Self.editing(
            .updateNetwork(vault: "contoso-prod", defaultAction: "Allow", bypass: nil, publicNetworkAccess: "Disabled")
        )
        let properties = Self.vault(result.document, 0)["properties"]!
        #expect(properties["networkAcls"]!["defaultAction"] == .string("Allow"))
        #expect(properties["networkAcls"]!["bypass"] == .string("AzureServices"))
        #expect(properties["publicNetworkAccess"] == .string("Disabled"))
    }
}
