import ArgumentParser
import Foundation
import MoatClient
import MoatCore
import MoatWire

/// Options every change command takes, besides the sockets.
struct ChangeOptions: ParsableArguments {
    @Option(name: .customLong("expected-revision"), help: "Refuse unless this is the current revision's hash.")
    var expectedRevision: String?

    @Flag(name: .customLong("dry-run"), help: "Validate only; change nothing.")
    var dryRun = false

    @Flag(
        help:
            "Make the change on the shadow candidate (or a copy of the serving document), judged on live checks but not served (moatctl shadow)."
    )
    var shadow = false

    @Flag(
        help:
            "With --shadow and the etcd source: make the change on the fleet's candidate in etcd, judged by every node (docs/etcd.md)."
    )
    var fleet = false

    func validate() throws {
        guard !fleet || shadow else { throw ValidationError("--fleet goes with --shadow") }
    }
}

/// Sends one change and prints what changed (exit 1 when refused, 3 when unreachable).
func apply(_ change: DocumentChange, _ sockets: SocketOptions, _ options: ChangeOptions) async throws {
    let response = try await withControlClient(sockets) {
        options.shadow
            ? try await $0.shadowApply(
                change,
                expectedRevision: options.expectedRevision,
                dryRun: options.dryRun,
                fleet: options.fleet
            )
            : try await $0.apply(change, expectedRevision: options.expectedRevision, dryRun: options.dryRun)
    }
    report(response)
}

/// `--vault`, with az's `--name` / `-n` as aliases.
struct VaultOption: ParsableArguments {
    @Option(name: [.customLong("vault"), .customLong("name"), .customShort("n")], help: "The vault.")
    var vault: String
}

struct NetworkRuleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network-rule",
        abstract: "Add, remove or list a vault's IP and virtual network rules (like az keyvault network-rule).",
        subcommands: [Add.self, Remove.self, List.self]
    )

    struct Target: ParsableArguments {
        @Option(name: .customLong("ip-address"), help: "IPv4 address or CIDR range.")
        var ipAddress: String?

        @Option(name: .customLong("subnet"), help: "Subnet ARM id.")
        var subnet: String?

        func validate() throws {
            guard (ipAddress == nil) != (subnet == nil) else {
                throw ValidationError("give exactly one of --ip-address and --subnet")
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a rule (a rule that is already there changes nothing)."
        )
        @OptionGroup var sockets: SocketOptions
        @OptionGroup var vault: VaultOption
        @OptionGroup var target: Target
        @Flag(
            name: .customLong("ignore-missing-endpoint"),
            help: "Add a subnet rule even if the subnet lacks the Microsoft.KeyVault service endpoint."
        )
        var ignoreMissingEndpoint = false
        @OptionGroup var options: ChangeOptions

        func run() async throws {
            if let ip = target.ipAddress {
                try await apply(.addIpRule(vault: vault.vault, value: ip), sockets, options)
            } else {
                try await apply(
                    .addVirtualNetworkRule(
                        vault: vault.vault,
                        subnetId: target.subnet!,
                        ignoreMissingVnetServiceEndpoint: ignoreMissingEndpoint
                    ),
                    sockets,
                    options
                )
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a rule (a missing rule is an error).")
        @OptionGroup var sockets: SocketOptions
        @OptionGroup var vault: VaultOption
        @OptionGroup var target: Target
        @OptionGroup var options: ChangeOptions

        func run() async throws {
            if let ip = target.ipAddress {
                try await apply(.removeIpRule(vault: vault.vault, value: ip), sockets, options)
            } else {
                try await apply(
                    .removeVirtualNetworkRule(vault: vault.vault, subnetId: target.subnet!),
                    sockets,
                    options
                )
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the vault's rules, one per line.")
        @OptionGroup var sockets: SocketOptions
        @OptionGroup var vault: VaultOption

        func run() async throws {
            let answer = try await withControlClient(sockets) { try await $0.document(vault: vault.vault) }
            let acls = (try? JSONValue(parsing: answer.document))?["properties"]?["networkAcls"]
            for rule in acls?["ipRules"]?.arrayValue ?? [] {
                if let value = rule["value"]?.stringValue { print("ip \(value)") }
            }
            for rule in acls?["virtualNetworkRules"]?.arrayValue ?? [] {
                guard let id = rule["id"]?.stringValue else { continue }
                print(
                    "subnet \(id)\(rule["ignoreMissingVnetServiceEndpoint"]?.boolValue == true ? " (ignore missing endpoint)" : "")"
                )
            }
        }
    }
}

struct UpdateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Change a vault's default action, bypass or public network access (like az keyvault update)."
    )

    @OptionGroup var sockets: SocketOptions
    @OptionGroup var vault: VaultOption

    @Option(name: .customLong("default-action"), help: "Allow or Deny.")
    var defaultAction: String?

    @Option(help: "AzureServices or None.")
    var bypass: String?

    @Option(name: .customLong("public-network-access"), help: "Enabled, Disabled or SecuredByPerimeter.")
    var publicNetworkAccess: String?

    @OptionGroup var options: ChangeOptions

    func validate() throws {
        guard defaultAction != nil || bypass != nil || publicNetworkAccess != nil else {
            throw ValidationError("give at least one of --default-action, --bypass, --public-network-access")
        }
        try Self.check(defaultAction, "--default-action", ["Allow", "Deny"])
        try Self.check(bypass, "--bypass", ["AzureServices", "None"])
        try Self.check(publicNetworkAccess, "--public-network-access", ["Enabled", "Disabled", "SecuredByPerimeter"])
    }

    private static func check(_ value: String?, _ flag: String, _ choices: [String]) throws {
        guard let value else { return }
        guard choices.contains(where: { $0.lowercased() == value.lowercased() }) else {
            throw ValidationError("\(flag) must be one of \(choices.joined(separator: ", "))")
        }
    }

    func run() async throws {
        try await apply(
            .updateNetwork(
                vault: vault.vault,
                defaultAction: defaultAction,
                bypass: bypass,
                publicNetworkAccess: publicNetworkAccess
            ),
            sockets,
            options
        )
    }
}

struct SetPolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-policy",
        abstract:
            "Set an access policy's permissions (like az keyvault set-policy): replaces the categories given, creates the entry when absent."
    )

    @OptionGroup var sockets: SocketOptions
    @OptionGroup var vault: VaultOption

    @Option(name: .customLong("object-id"), help: "The user, group, service principal or managed identity.")
    var objectId: String

    @Option(name: .customLong("application-id"), help: "Makes a compound entry: the object through this application.")
    var applicationId: String?

    @Option(
        name: .customLong("key-permissions"),
        parsing: .upToNextOption,
        help: "Key permissions (space- or comma-separated)."
    )
    var keyPermissions: [String] = []

    @Option(name: .customLong("secret-permissions"), parsing: .upToNextOption, help: "Secret permissions.")
    var secretPermissions: [String] = []

    @Option(name: .customLong("certificate-permissions"), parsing: .upToNextOption, help: "Certificate permissions.")
    var certificatePermissions: [String] = []

    @Option(name: .customLong("storage-permissions"), parsing: .upToNextOption, help: "Storage permissions.")
    var storagePermissions: [String] = []

    @OptionGroup var options: ChangeOptions

    func run() async throws {
        // A category named with no permissions clears it; a category not named is left alone.
        let arguments = CommandLine.arguments
        var permissions: [PermissionCategory: [String]] = [:]
        for (category, flag, values) in [
            (PermissionCategory.keys, "--key-permissions", keyPermissions),
            (.secrets, "--secret-permissions", secretPermissions),
            (.certificates, "--certificate-permissions", certificatePermissions),
            (.storage, "--storage-permissions", storagePermissions),
        ] where arguments.contains(where: { $0 == flag || $0.hasPrefix(flag + "=") }) {
            permissions[category] = values.flatMap {
                $0.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
            }
        }
        guard !permissions.isEmpty else {
            throw UsageError(
                description:
                    "give at least one of --key-permissions, --secret-permissions, --certificate-permissions, --storage-permissions"
            )
        }
        try await apply(
            .setAccessPolicy(
                vault: vault.vault,
                objectId: objectId,
                applicationId: applicationId,
                permissions: permissions
            ),
            sockets,
            options
        )
    }
}

struct DeletePolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-policy",
        abstract: "Remove an access-policy entry (like az keyvault delete-policy); a missing entry is an error."
    )

    @OptionGroup var sockets: SocketOptions
    @OptionGroup var vault: VaultOption

    @Option(name: .customLong("object-id"), help: "The entry's object id.")
    var objectId: String

    @Option(name: .customLong("application-id"), help: "The entry's application id (compound entries).")
    var applicationId: String?

    @OptionGroup var options: ChangeOptions

    func run() async throws {
        try await apply(
            .deleteAccessPolicy(vault: vault.vault, objectId: objectId, applicationId: applicationId),
            sockets,
            options
        )
    }
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract:
            "Create or replace vaults from `az keyvault show -o json` (one vault) or `az keyvault list` output; others are kept."
    )

    @OptionGroup var sockets: SocketOptions

    @Argument(help: "The JSON file; - reads standard input.")
    var file: String

    @OptionGroup var options: ChangeOptions

    func run() async throws {
        let bytes = try InputFile.read(file, what: "vault JSON")
        let vaults: JSONValue
        do {
            vaults = try JSONValue(parsing: bytes)
        } catch {
            throw UsageError(description: "'\(file)' is not JSON: \(error)")
        }
        try await apply(.upsertVaults(vaults, createOnly: false), sockets, options)
    }
}

struct VaultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault",
        abstract: "Add, remove, list or show vaults.",
        subcommands: [Add.self, Remove.self, List.self, Show.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a vault with Azure's defaults (public access enabled, no firewall, access policies)."
        )
        @OptionGroup var sockets: SocketOptions
        @OptionGroup var vault: VaultOption

        @Option(
            name: [.customLong("tenant"), .customLong("tenant-id")],
            help: "The vault's tenant (needs an entry in the document's tenants)."
        )
        var tenant: String

        @Option(name: [.customLong("subscription"), .customLong("subscription-id")], help: "Subscription id.")
        var subscription: String?

        @Option(name: [.customLong("resource-group"), .customShort("g")], help: "Resource group.")
        var resourceGroup: String?

        @Option(name: [.customLong("location"), .customShort("l")], help: "Azure region, shown in denial messages.")
        var location: String?

        @Flag(
            name: .customLong("enable-rbac-authorization"),
            help: "Authorize the data plane with role assignments instead of access policies."
        )
        var enableRbacAuthorization = false

        @Option(name: .customLong("default-action"), help: "Add a firewall with this default action (Allow or Deny).")
        var defaultAction: String?

        @OptionGroup var options: ChangeOptions

        func run() async throws {
            var properties: [(key: String, value: JSONValue)] = [
                ("tenantId", .string(tenant)),
                ("enableRbacAuthorization", .bool(enableRbacAuthorization)),
                ("publicNetworkAccess", .string("Enabled")),
                ("accessPolicies", .array([])),
            ]
            if let defaultAction {
                properties.append(
                    (
                        "networkAcls",
                        .object([
                            ("bypass", .string("AzureServices")), ("defaultAction", .string(defaultAction)),
                            ("ipRules", .array([])), ("virtualNetworkRules", .array([])),
                        ])
                    )
                )
            }
            var entry: [(key: String, value: JSONValue)] = [("name", .string(vault.vault))]
            if let subscription { entry.append(("subscriptionId", .string(subscription))) }
            if let resourceGroup { entry.append(("resourceGroup", .string(resourceGroup))) }
            if let location { entry.append(("location", .string(location))) }
            entry.append(("properties", .object(properties)))
            try await apply(.upsertVaults(.object(entry), createOnly: true), sockets, options)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a vault (a missing vault is an error).")
        @OptionGroup var sockets: SocketOptions
        @OptionGroup var vault: VaultOption
        @OptionGroup var options: ChangeOptions

        func run() async throws {
            try await apply(.deleteVault(name: vault.vault), sockets, options)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the vaults' names, one per line.")
        @OptionGroup var sockets: SocketOptions

        func run() async throws {
            let answer = try await withControlClient(sockets) { try await $0.document() }
            for vault in (try? JSONValue(parsing: answer.document))?["vaults"]?.arrayValue ?? [] {
                if let name = vault["name"]?.stringValue { print(name) }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one vault's JSON.")
        @OptionGroup var sockets: SocketOptions
        @OptionGroup var vault: VaultOption

        func run() async throws {
            let answer = try await withControlClient(sockets) { try await $0.document(vault: vault.vault) }
            FileHandle.standardOutput.write(Data(answer.document))
        }
    }
}
