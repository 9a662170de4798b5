import Foundation
import MoatClient
import MoatCore
import MoatWire
import Testing

extension MoatdIntegrationTests {
    /// The Azure-style verbs of `moatctl` against a real daemon: each changes the document as
    /// `az keyvault` would, and bad input gets the documented error and changes nothing.
    @Suite("moatctl: network-rule, update, set-policy, delete-policy, vault, import")
    struct MoatctlVerbs {
        /// Runs `moatctl` against the daemon's control socket.
        static func moatctl(
            _ sandbox: Sandbox,
            _ daemon: DaemonProcess,
            _ arguments: String...
        ) async throws -> ToolResult {
            try await sandbox.run(moatctlPath, arguments + ["--control-socket", daemon.controlSocket])
        }

        /// The daemon's current document, parsed.
        static func document(_ daemon: DaemonProcess) async throws -> JSONValue {
            try JSONValue(parsing: try await daemon.control { try await $0.document() }.document)
        }

        static func properties(_ document: JSONValue) -> JSONValue { document["vaults"]!.arrayValue![0]["properties"]! }

        /// Each refusal: exit 1, the reason on stderr, and the document (and its revision) unchanged.
        static func expectRefused(
            _ sandbox: Sandbox,
            _ daemon: DaemonProcess,
            _ refusals: [(arguments: [String], reason: String)]
        ) async throws {
            let before = try await document(daemon)
            for (arguments, reason) in refusals {
                let result = try await sandbox.run(moatctlPath, arguments + ["--control-socket", daemon.controlSocket])
                #expect(result.status == 1 && result.stderr.contains(reason), "moatctl \(arguments): \(result)")
                #expect(try await document(daemon) == before, "moatctl \(arguments) changed the document")
            }
        }

        @Test("network-rule add|remove|list: live, idempotent adds, NOT_FOUND removes, Azure's validation")
        func networkRule() async throws {
            try await ControlCommands.withDaemon { sandbox, daemon in
                let vault = TestDocuments.vault
                let added = try await Self.moatctl(
                    sandbox,
                    daemon,
                    "network-rule",
                    "add",
                    "--vault",
                    vault,
                    "--ip-address",
                    "198.51.100.0/24"
                )
                #expect(added.status == 0 && added.stdout.contains("revision 2"), "\(added)")
                let afterAdd = try await Self.document(daemon)
                #expect(
                    Self.properties(afterAdd)["networkAcls"]!["ipRules"]
                        == .array([.object([("value", .string("198.51.100.0/24"))])])
                )
                let again = try await Self.moatctl(
                    sandbox,
                    daemon,
                    "network-rule",
                    "add",
                    "-n",
                    vault,
                    "--ip-address",
                    "198.51.100.0/24"
                )
                #expect(again.status == 0 && again.stdout.contains("unchanged"), "\(again)")

                let subnet =
                    "/subscriptions/\(TestDocuments.subscription)/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/app"
                let subnetAdded = try await Self.moatctl(
                    sandbox,
                    daemon,
                    "network-rule",
                    "add",
                    "--name",
                    vault,
                    "--subnet",
                    subnet,
                    "--ignore-missing-endpoint"
                )
                #expect(subnetAdded.status == 0, "\(subnetAdded)")
                let list = try await Self.moatctl(sandbox, daemon, "network-rule", "list", "--vault", vault)
                #expect(list.stdout == "ip 198.51.100.0/24\nsubnet \(subnet) (ignore missing endpoint)\n", "\(list)")

                try await Self.expectRefused(
                    sandbox,
                    daemon,
                    [
                        (
                            ["network-rule", "remove", "--vault", vault, "--ip-address", "192.0.2.1"],
                            "has no IP rule '192.0.2.1'"
                        ),
                        (
                            ["network-rule", "add", "--vault", vault, "--ip-address", "10.1.0.0/16"],
                            "forbidden range 10.0.0.0–10.255.255.255 (private IP addresses)"
                        ),
                        (
                            ["network-rule", "add", "--vault", vault, "--ip-address", "198.51.100.300"],
                            "is not an IPv4 address or CIDR range"
                        ),
                        (
                            ["network-rule", "add", "--vault", "no-such-vault", "--ip-address", "192.0.2.1"],
                            "no vault 'no-such-vault'"
                        ),
                    ]
                )
                let removed = try await Self.moatctl(
                    sandbox,
                    daemon,
                    "network-rule",
                    "remove",
                    "--vault",
                    vault,
                    "--ip-address",
                    "198.51.100.0/24"
                )
                #expect(removed.status == 0, "\(removed)")
                let usage = try await Self.moatctl(sandbox, daemon, "network-rule", "add", "--vault", vault)
                #expect(usage.status == 2, "\(usage)")
            }
        }

        @Test("update: the settings given change, the others stay; a firewall Deny then denies the request, live")
        func update() async throws {
            try await ControlCommands.withDaemon { sandbox, daemon in
                let request = TestDocuments.aliceGetsSecret()
                #expect(try await daemon.withClient { await $0.check(request) }.isAllowed)
                let updated = try await Self.moatctl(
                    sandbox,
                    daemon,
                    "update",
                    "--vault",
                    TestDocuments.vault,
                    "--default-action",
                    "deny"
                )
                #expect(updated.status == 0, "\(updated)")
                let properties = Self.properties(try await Self.document(daemon))
                // Written in its canonical spelling.
                #expect(properties["networkAcls"]!["defaultAction"] == .string("Deny"))
                #expect(properties["networkAcls"]!["bypass"] == .string("None"))
                let denied = try await daemon.withClient { await $0.check(request) }
                #expect(denied.decision?.innerCode == .forbiddenByFirewall, "\(denied.summary)")
                let disabled = try await Self.moatctl(
                    sandbox,
                    daemon,
                    "update",
                    "--vault",
                    TestDocuments.vault,
                    "--public-network-access",
                    "Disabled"
                )
                let afterDisable = try await Self.document(daemon)
                #expect(
                    disabled.status == 0 && Self.properties(afterDisable)["publicNetworkAccess"] == .string("Disabled")
                )
                let bad = try await Self.moatctl(
                    sandbox,
                    daemon,
                    "update",
                    "--vault",
                    TestDocuments.vault,
                    "--bypass",
                    "Everyone"
                )
                #expect(bad.status == 2 && bad.stderr.contains("--bypass"), "\(bad)")
            }
        }

        @Test(
            "set-policy replaces the named categories (creating the entry); delete-policy removes it; typos are refused"
        )
        func policies() async throws {
            try await ControlCommands.withDaemon { sandbox, daemon in
                let vault = TestDocuments.vault
                let bob = "b0b00000-0000-4000-8000-000000000002"
                let set = try await Self.moatctl(
                    sandbox,
                    daemon,
                    "set-policy",
                    "--vault",
                    vault,
                    "--object-id",
                    bob,
                    "--secret-permissions",
                    "get",
                    "list",
                    "--key-permissions",
                    "wrapKey,unwrapKey"
                )
                #expect(set.status == 0, "\(set)")
                var policies = Self.properties(try await Self.document(daemon))["accessPolicies"]!.arrayValue!
                #expect(policies.count == 2)
                #expect(policies[1]["tenantId"] == .string(TestDocuments.tenant))
                #expect(policies[1]["permissions"]!["secrets"] == .array([.string("get"), .string("list")]))
                #expect(policies[1]["permissions"]!["keys"] == .array([.string("wrapKey"), .string("unwrapKey")]))

                let narrowed = try await Self.moatctl(
                    sandbox,
                    daemon,
                    "set-policy",
                    "--vault",
                    vault,
                    "--object-id",
                    bob,
                    "--secret-permissions",
                    "get"
                )
                #expect(narrowed.status == 0, "\(narrowed)")
                policies = Self.properties(try await Self.document(daemon))["accessPolicies"]!.arrayValue!
                #expect(policies[1]["permissions"]!["secrets"] == .array([.string("get")]))
                #expect(policies[1]["permissions"]!["keys"] == .array([.string("wrapKey"), .string("unwrapKey")]))

                try await Self.expectRefused(
                    sandbox,
                    daemon,
                    [
                        (
                            ["set-policy", "--vault", vault, "--object-id", bob, "--secret-permissions", "gett"],
                            "unknown secrets permission 'gett'"
                        ),
                        (
                            [
                                "delete-policy", "--vault", vault, "--object-id", bob, "--application-id",
                                "a9900000-0000-4000-8000-000000000001",
                            ], "has no access policy"
                        ),
                    ]
                )
                let deleted = try await Self.moatctl(
                    sandbox,
                    daemon,
                    "delete-policy",
                    "--vault",
                    vault,
                    "--object-id",
                    bob
                )
                #expect(deleted.status == 0, "\(deleted)")
                let afterDelete = try await Self.document(daemon)
                #expect(Self.properties(afterDelete)["accessPolicies"]!.arrayValue!.count == 1)
            }
        }

        @Test("vault add|list|show|remove, and import of az keyvault output")
        func vaults() async throws {
            try await ControlCommands.withDaemon { sandbox, daemon in
                let added = try await Self.moatctl(
                    sandbox,
                    daemon,
                    "vault",
                    "add",
                    "--name",
                    "new-vault",
                    "--tenant",
                    TestDocuments.tenant,
                    "-l",
                    "westeurope"
                )
                #expect(added.status == 0 && added.stdout.contains("added vault new-vault"), "\(added)")
                let list = try await Self.moatctl(sandbox, daemon, "vault", "list")
                #expect(list.stdout == "\(TestDocuments.vault)\nnew-vault\n", "\(list)")
                let show = try await Self.moatctl(sandbox, daemon, "vault", "show", "-n", "NEW-VAULT")
                let shown = try JSONValue(parsing: show.stdout)
                #expect(
                    shown["properties"]!["publicNetworkAccess"] == .string("Enabled")
                        && shown["location"] == .string("westeurope")
                )

                try await Self.expectRefused(
                    sandbox,
                    daemon,
                    [
                        (["vault", "add", "--name", "new-vault", "--tenant", TestDocuments.tenant], "already exists"),
                        (["vault", "add", "--name", "x", "--tenant", TestDocuments.tenant], "is not a vault name"),
                    ]
                )

                // `az keyvault list` output: an array, az's nulls and extra fields included.
                let azOutput = """
                    [{"id": "/subscriptions/\(TestDocuments.subscription)/resourceGroups/rg-it/providers/Microsoft.KeyVault/vaults/imported",
                      "name": "imported", "location": "westeurope", "resourceGroup": "rg-it", "tags": {},
                      "type": "Microsoft.KeyVault/vaults",
                      "properties": {"tenantId": "\(TestDocuments.tenant)", "enableSoftDelete": true, "networkAcls": null,
                        "privateEndpointConnections": null, "accessPolicies": [], "provisioningState": "Succeeded",
                        "vaultUri": "https://imported.vault.azure.net/"}}]
                    """
                try sandbox.write(Array(azOutput.utf8), to: sandbox.file("az.json"))
                let imported = try await Self.moatctl(sandbox, daemon, "import", sandbox.file("az.json"))
                #expect(imported.status == 0 && imported.stdout.contains("imported 1 vault"), "\(imported)")
                let removed = try await Self.moatctl(sandbox, daemon, "vault", "remove", "-n", "new-vault")
                #expect(removed.status == 0, "\(removed)")
                let names = try await Self.document(daemon)["vaults"]!.arrayValue!.map { $0["name"]!.stringValue! }
                #expect(names == [TestDocuments.vault, "imported"])
                try await Self.expectRefused(
                    sandbox,
                    daemon,
                    [
                        (["vault", "remove", "-n", "new-vault"], "no vault 'new-vault'")
                    ]
                )
            }
        }
    }
}
