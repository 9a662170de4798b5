import ArgumentParser
import Foundation
import MoatClient
import MoatCore
import MoatWire

/// `moatctl shadow`: a candidate rule document judged on live checks before it serves
/// (README.md, "Changing rules safely"; docs/protocol.md, "Shadow rule sets").
struct ShadowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shadow",
        abstract: "Judge a candidate rule document on live checks before it serves.",
        discussion: """
            Every change verb takes --shadow to build the candidate change by change. The candidate \
            lives in the daemon's memory only: a restart drops it. With the etcd rules source, --fleet \
            (on every subcommand, and with --shadow on a change verb) works on the fleet's candidate, \
            kept in etcd and judged by every node; its report sums theirs (docs/etcd.md, "A fleet's \
            shadow candidate").
            """,
        subcommands: [Push.self, Report.self, Promote.self, Drop.self]
    )

    struct Push: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load a candidate document (validated like push, not served), replacing any."
        )
        @OptionGroup var sockets: SocketOptions

        @Argument(help: "The candidate rule document (JSON); - reads standard input.")
        var file: String

        @Option(name: .customLong("sample-rate"), help: "Share of checks the candidate judges, in (0, 1].")
        var sampleRate: Double = 1

        @Flag(help: "Put the candidate in etcd, so that every node of the fleet judges it (etcd rules source).")
        var fleet = false

        func validate() throws {
            guard sampleRate > 0 && sampleRate <= 1 else {
                throw ValidationError("--sample-rate must be in (0, 1], not \(sampleRate)")
            }
        }

        func run() async throws {
            let bytes = try InputFile.read(file, what: "rules file")
            report(
                try await withControlClient(sockets) {
                    try await $0.shadowPush(bytes, sampleRate: sampleRate, fleet: fleet)
                }
            )
        }
    }

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What the candidate would change: flips by direction and reason changes, grouped."
        )
        @OptionGroup var sockets: SocketOptions

        @Flag(help: "Print JSON.")
        var json = false

        @Flag(help: "Every live node's report on the fleet's candidate, summed (etcd rules source).")
        var fleet = false

        func run() async throws {
            let report = try await withControlClient(sockets) { try await $0.shadowReport(fleet: fleet) }
            if json {
                print(report.json.serialized(.pretty))
                return
            }
            guard let summary = report.summary else {
                print("no shadow candidate is loaded")
                return
            }
            print(summary.line)
            for node in report.nodes {
                print(
                    "node \(node.name): "
                        + (node.error.map { "does not judge the candidate: \($0)" }
                            ?? "\(node.compared) compared, \(node.allowToDeny) allow→deny, \(node.denyToAllow) deny→allow, \(node.reasonChanged) reason changes"
                            + (node.skipped > 0 ? ", \(node.skipped) skipped" : ""))
                )
            }
            if !report.missingNodes.isEmpty {
                print(
                    "missing (did not answer within --etcd-timeout, not summed): \(report.missingNodes.joined(separator: ", "))"
                )
            }
            for group in report.groups {
                let who = [
                    group.caller.isEmpty ? nil : "caller \(group.caller)",
                    group.sourcePrefix.isEmpty ? nil : "from \(group.sourcePrefix)",
                ].compactMap { $0 }.joined(separator: " ")
                print(
                    "\(group.change.rawValue) ×\(group.count)  \(group.vault) \(group.operation) \(who)"
                        + "  [\(Timestamp.iso8601(millis: group.firstSeenUnixMillis)) … \(Timestamp.iso8601(millis: group.lastSeenUnixMillis))]"
                )
                print("    \(group.serving) → \(group.candidate)")
            }
            if report.otherFlips > 0 || report.otherReasonChanged > 0 {
                print("in groups not listed: \(report.otherFlips) flips, \(report.otherReasonChanged) reason changes")
            }
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the candidate the serving document (validated, written back, revision recorded).",
            discussion: """
                Refused when the serving document changed since the candidate was pushed (a candidate \
                built with --shadow is rebased onto each serving change instead).
                """
        )
        @OptionGroup var sockets: SocketOptions

        @Flag(name: .customLong("if-no-flips"), help: "Refuse when any check flipped.")
        var ifNoFlips = false

        @Option(name: .customLong("max-flips"), help: "Refuse when more than N checks flipped.")
        var maxFlips: UInt64?

        @Flag(
            help:
                "Promote the fleet's candidate, the limit checked against every node's report summed (etcd rules source)."
        )
        var fleet = false

        func validate() throws {
            guard !(ifNoFlips && maxFlips != nil) else {
                throw ValidationError("give at most one of --if-no-flips and --max-flips")
            }
        }

        func run() async throws {
            let limit = ifNoFlips ? 0 : maxFlips
            report(
                try await withControlClient(sockets) { try await $0.shadowPromote(maximumFlips: limit, fleet: fleet) }
            )
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Discard the candidate.")
        @OptionGroup var sockets: SocketOptions

        @Flag(help: "Delete the fleet's candidate from etcd; every node drops it (etcd rules source).")
        var fleet = false

        func run() async throws {
            report(try await withControlClient(sockets) { try await $0.shadowDrop(fleet: fleet) })
        }
    }
}

extension ShadowSummary {
    /// One line for `moatctl status` and the head of `moatctl shadow report`.
    var line: String {
        let built = changes.isEmpty ? "pushed" : changes.joined(separator: "; ")
        let outdated = baseChanged ? " (the serving revision changed since: promote refuses)" : ""
        let kept = fleet ? "the fleet's, kept in etcd" : "in memory only (not kept across restarts)"
        return
            "candidate \(candidate.hash) on revision \(base.hash)\(outdated), \(built); sample rate \(sampleRate); "
            + "\(compared) compared, \(allowToDeny) allow→deny, \(denyToAllow) deny→allow, \(reasonChanged) reason changes"
            + (skipped > 0 ? ", \(skipped) skipped" : "") + "; \(kept)"
    }
}
