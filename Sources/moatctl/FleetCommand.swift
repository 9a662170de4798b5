import ArgumentParser
import Foundation
import MoatClient
import MoatCore
import MoatWire

/// `moatctl fleet`: the moatd nodes on one etcd (docs/etcd.md, "Fleet").
struct FleetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "The moatd nodes serving one rule set from etcd.",
        subcommands: [FleetStatusCommand.self]
    )
}

struct FleetStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Every node, the revision it serves, and whether they agree (by content hash)."
    )

    @OptionGroup var sockets: SocketOptions

    @Option(help: "Wait until every node is ready and serves this revision hash (exit 1 at --timeout).")
    var wait: String?

    @Option(help: "Seconds --wait waits.")
    var timeout: Double = 60

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be more than 0 seconds") }
    }

    func run() async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        while true {
            let fleet = try await withControlClient(sockets) { try await $0.fleetStatus() }
            let waited = wait.map { hash in
                !fleet.nodes.isEmpty && fleet.nodes.allSatisfy { $0.ready && $0.revisionHash == hash.lowercased() }
            }
            if waited != false || ContinuousClock.now >= deadline {
                show(fleet)
                if waited == false {
                    "moatctl: not every node serves \(wait ?? "") after \(timeout) s".write(toStandardError: ())
                    throw ExitCode(1)
                }
                return
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    private func show(_ fleet: FleetStatusResponse) {
        if json {
            let nodes = fleet.nodes.map { node in
                JSONValue.object([
                    ("name", .string(node.name)), ("revision", .string(node.revisionHash)),
                    ("etcdRevision", .number(String(node.etcdRevision))),
                    ("since", .number(String(node.sinceUnixMillis))), ("ready", .bool(node.ready)),
                    ("stale", .bool(node.stale)), ("lastError", node.lastError.map { .string($0) } ?? .null),
                    ("version", .string(node.version)),
                ])
            }
            let value = JSONValue.object([
                ("agree", .bool(fleet.agree)), ("document", .string(fleet.documentHash)), ("nodes", .array(nodes)),
            ])
            print(value.serialized(.pretty))
            return
        }
        print("etcd document: \(fleet.documentHash.isEmpty ? "none" : fleet.documentHash)")
        print("nodes: \(fleet.nodes.count), \(fleet.agree ? "agree" : "DISAGREE")")
        for node in fleet.nodes {
            let flags = [node.ready ? nil : "not ready", node.stale ? "stale" : nil].compactMap { $0 }
            print(
                "  \(node.name)  \(node.revisionHash.isEmpty ? "none" : node.revisionHash)  etcd \(node.etcdRevision)"
                    + "  \(node.version)\(flags.isEmpty ? "" : "  (\(flags.joined(separator: ", ")))")"
                    + (node.lastError.map { "  last error: \($0)" } ?? "")
            )
        }
    }
}
