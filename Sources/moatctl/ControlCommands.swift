import ArgumentParser
import Foundation
import MoatClient
import MoatCore
import MoatWire

struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Replace the daemon's whole rule document (written back to its rules file)."
    )

    @OptionGroup var sockets: SocketOptions

    @Argument(help: "The rule document (JSON); - reads standard input.")
    var file: String

    @OptionGroup var options: ChangeOptions

    func validate() throws {
        guard !options.shadow else {
            throw ValidationError("push takes no --shadow: load a candidate with moatctl shadow push FILE")
        }
    }

    func run() async throws {
        let bytes = try InputFile.read(file, what: "rules file")
        let change = try await withControlClient(sockets) {
            try await $0.putDocument(bytes, expectedRevision: options.expectedRevision, dryRun: options.dryRun)
        }
        report(change)
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the daemon's revision, rules file, counts, readiness and each tenant's signing keys."
    )

    @OptionGroup var sockets: SocketOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        let status = try await withControlClient(sockets) { try await $0.status() }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        if json {
            print(status.json(nowMillis: now).serialized(.pretty))
            return
        }
        let revision = status.revision.map { "\($0)" } ?? "none"
        let loaded = status.loadedAtUnixMillis > 0 ? Timestamp.iso8601(millis: status.loadedAtUnixMillis) : "never"
        let confirmed =
            status.rulesConfirmedAtUnixMillis > 0
            ? "\(Timestamp.iso8601(millis: status.rulesConfirmedAtUnixMillis)) (\(max(0, now - status.rulesConfirmedAtUnixMillis) / 1000) s ago)"
            : "not yet"
        let maximumAge = status.maximumSnapshotAgeSeconds > 0 ? "\(status.maximumSnapshotAgeSeconds) s" : "off"
        print("ready:           \(status.ready ? "yes" : "no\(status.notReadyReason.map { " (\($0))" } ?? "")")")
        print("revision:        \(revision)")
        print("loaded at:       \(loaded)")
        print("confirmed:       \(confirmed); max snapshot age: \(maximumAge)")
        print("rules file:      \(status.rulesFile)")
        print("uptime:          \(status.uptimeSeconds) s")
        print("vaults:          \(status.vaults)")
        print("ip rules:        \(status.ipRules)")
        print("vnet rules:      \(status.virtualNetworkRules)")
        print("access policies: \(status.accessPolicies)")
        print("role assignments: \(status.roleAssignments)")
        print(
            "kept revisions:  \(status.history.isEmpty ? "none" : status.history.map { "\($0)" }.joined(separator: ", "))"
        )
        print("reload failures: \(status.reloadFailures)\(status.lastReloadError.map { " (last: \($0))" } ?? "")")
        if let source = status.etcdSource {
            print("etcd source:     \(source), revision \(status.etcdRevision)\(status.stale ? " (stale)" : "")")
        }
        if let shadow = status.shadow { print("shadow:          \(shadow.line)") }
        for tenant in status.tenantKeys { print(tenant.lines(now: now).joined(separator: "\n")) }
    }
}

struct RollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Return to the previous revision (again: one further back), or to a kept revision by hash."
    )

    @OptionGroup var sockets: SocketOptions

    @Argument(help: "Hash of a kept revision (default: the one before the current).")
    var revision: String?

    func run() async throws {
        report(try await withControlClient(sockets) { try await $0.rollback(to: revision) })
    }
}

struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Make the daemon re-read its rules file now."
    )

    @OptionGroup var sockets: SocketOptions

    func run() async throws {
        report(try await withControlClient(sockets) { try await $0.reload() })
    }
}

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Print the daemon's rule document, or one vault of it."
    )

    @OptionGroup var sockets: SocketOptions

    @Option(name: [.long, .customLong("name"), .customShort("n")], help: "Print only this vault.")
    var vault: String?

    func run() async throws {
        let answer = try await withControlClient(sockets) { try await $0.document(vault: vault) }
        FileHandle.standardOutput.write(Data(answer.document))
    }
}

struct MetricsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Print the daemon's metrics (Prometheus text)."
    )

    @OptionGroup var sockets: SocketOptions

    func run() async throws {
        let text = try await withControlClient(sockets) { try await $0.metrics() }
        print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
    }
}
