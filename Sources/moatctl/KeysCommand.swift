import ArgumentParser
import Foundation
import MoatClient
import MoatCore
import MoatWire

/// `moatctl keys`: the signing keys a running moatd holds, and refreshing them (docs/running.md,
/// "Signing keys").
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "List or refresh the signing keys of a running moatd.",
        subcommands: [KeysListCommand.self, KeysRefreshCommand.self]
    )
}

struct KeysListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Show each tenant's key ids, key source, fetch time, age, next refresh and last error."
    )

    @OptionGroup var sockets: SocketOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        TenantKeysStatus.print(try await withControlClient(sockets) { try await $0.keys() }, json: json)
    }
}

struct KeysRefreshCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refresh",
        abstract:
            "Fetch key sets now (every tenant with a key source, or one) and show the result; exit 1 if one failed."
    )

    @OptionGroup var sockets: SocketOptions

    @Option(help: "Refresh only this tenant (its id).")
    var tenant: String?

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        let tenants = try await withControlClient(sockets) { try await $0.refreshKeys(tenantId: tenant) }
        TenantKeysStatus.print(tenants, json: json)
        if tenants.contains(where: { $0.lastError != nil }) { throw ExitCode(1) }
    }
}

extension TenantKeysStatus {
    /// Readable lines, one block per tenant.
    func lines(now: Int64) -> [String] {
        var lines = ["tenant \(tenantId): \(source ?? "document keys only") (\(origin))"]
        lines.append("  key ids:      \(keyIDs.isEmpty ? "none" : keyIDs.joined(separator: ", "))")
        if let fetched = fetchedAtUnixMillis {
            lines.append(
                "  fetched at:   \(Timestamp.iso8601(millis: fetched)) (age \(max(0, now - fetched) / 1000) s)"
            )
        }
        if let next = nextRefreshUnixMillis { lines.append("  next refresh: \(Timestamp.iso8601(millis: next))") }
        if let lastError { lines.append("  last error:   \(lastError)") }
        return lines
    }

    static func print(_ tenants: [TenantKeysStatus], json: Bool) {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        if json {
            Swift.print(JSONValue.array(tenants.map { $0.json(nowMillis: now) }).serialized(.pretty))
        } else if tenants.isEmpty {
            Swift.print("no tenants")
        } else {
            for tenant in tenants { Swift.print(tenant.lines(now: now).joined(separator: "\n")) }
        }
    }
}
