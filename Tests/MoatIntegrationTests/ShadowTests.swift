import Foundation
import MoatClient
import MoatCore
import MoatWire
import Testing

extension MoatdIntegrationTests {
    /// Shadow rule sets (docs/protocol.md, "Shadow rule sets"; README.md, "Changing rules safely"):
    /// a candidate judged on the live checks, reported, promoted or dropped.
    @Suite("Shadow rule sets")
    struct Shadow {
        /// Three IP rules in front of alice's access policy; everything else is denied by the firewall.
        static let serving = TestDocuments.document(
            defaultAction: "Deny",
            ipRules: ["203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24"]
        )
        static let bob = "b0b00000-0000-4000-8000-000000000009"

        static func check(_ oid: String, from address: String) -> CheckRequest {
            var request = TestDocuments.aliceGetsSecret()
            request.sourceAddress = address
            request.assertedIdentity?.oid = oid
            return request
        }

        static func moatctl(
            _ sandbox: Sandbox,
            _ daemon: DaemonProcess,
            _ arguments: String...
        ) async throws
            -> ToolResult
        {
            try await sandbox.run(moatctlPath, arguments + ["--control-socket", daemon.controlSocket])
        }

        /// `moatctl network-rule add|remove` of an IP rule of the test vault, with `--shadow` when asked.
        static func ipRule(
            _ sandbox: Sandbox,
            _ daemon: DaemonProcess,
            _ verb: String,
            _ cidr: String,
            shadow: Bool = false
        ) async throws -> ToolResult {
            try await sandbox.run(
                moatctlPath,
                ["network-rule", verb, "--vault", TestDocuments.vault, "--ip-address", cidr]
                    + (shadow ? ["--shadow"] : []) + ["--control-socket", daemon.controlSocket]
            )
        }

        /// Sends `requests`, each answered (the serving decision is checked by the caller).
        static func send(_ daemon: DaemonProcess, _ requests: [CheckRequest]) async throws -> [Decision] {
            try await daemon.withClient { client in
                var decisions: [Decision] = []
                for request in requests {
                    decisions.append(try #require(await client.check(request).decision))
                }
                return decisions
            }
        }

        @Test(
            "a candidate removing an IP rule reports exactly the flips the traffic implies, with the rule named; promote applies it"
        )
        func removedRule() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(Self.serving, to: sandbox.rulesPath)
                let logPath = sandbox.file("audit.log")
                let daemon = try await sandbox.startDaemon(
                    arguments: ["--decision-log", logPath] + TestDocuments.asserterArguments
                )
                let servingHash = TestDocuments.hash(Self.serving)
                let remove = try await Self.ipRule(sandbox, daemon, "remove", "198.51.100.0/24", shadow: true)
                #expect(remove.status == 0, "\(remove)")
                #expect(remove.stdout.contains("shadow candidate"), "\(remove)")
                // Not served: the serving revision and the rules file are as they were.
                #expect(try await daemon.status().revision?.hash == servingHash)
                #expect(try sandbox.read(sandbox.rulesPath) == Self.serving)

                // Alice from the first rule's prefix (rule 0 on both sides), from the removed rule's
                // (a flip), from the third rule's (rule 2, then rule 1: the same rule); bob refused
                // by the firewall on both sides, and admitted by the removed rule, then refused by
                // the firewall (the same outcome, another reason).
                let alice = TestDocuments.alice
                let traffic =
                    Array(repeating: Self.check(alice, from: "203.0.113.9"), count: 5)
                    + Array(repeating: Self.check(alice, from: "198.51.100.7"), count: 3)
                    + Array(repeating: Self.check(alice, from: "192.0.2.5"), count: 4)
                    + Array(repeating: Self.check(Self.bob, from: "10.1.1.1"), count: 2)
                    + [Self.check(Self.bob, from: "198.51.100.8")]
                let decisions = try await Self.send(daemon, traffic)
                // The serving rules answered.
                #expect(
                    decisions.map(\.outcome) == Array(repeating: .allow, count: 12) + Array(repeating: .deny, count: 3)
                )

                let report = try await daemon.control { try await $0.shadowReport() }
                let summary = try #require(report.summary)
                #expect(summary.compared == 15)
                #expect(summary.allowToDeny == 3)
                #expect(summary.denyToAllow == 0)
                #expect(summary.reasonChanged == 1)
                #expect(summary.base.hash == servingHash)
                #expect(summary.changes == ["removed IP rule 198.51.100.0/24 from \(TestDocuments.vault)"])
                #expect(report.groups.count == 2, "\(report.groups)")
                #expect(report.otherFlips == 0 && report.otherReasonChanged == 0)
                let flip = try #require(report.groups.first { $0.change == .allowToDeny }, "\(report.groups)")
                #expect(flip.count == 3)
                #expect(flip.vault == TestDocuments.vault)
                #expect(flip.operation == "GetSecret")
                #expect(flip.caller == TestDocuments.alice)
                #expect(flip.sourcePrefix == "198.51.100.0/24")
                #expect(flip.serving.hasPrefix("allowed by IP rule 1 (198.51.100.0/24)"), "\(flip.serving)")
                #expect(flip.candidate == "denied ForbiddenByFirewall")
                #expect(flip.firstSeenUnixMillis <= flip.lastSeenUnixMillis && flip.firstSeenUnixMillis > 0)
                let reason = try #require(report.groups.first { $0.change == .reason }, "\(report.groups)")
                #expect(reason.count == 1 && reason.caller == Self.bob && reason.sourcePrefix == "198.51.100.0/24")
                #expect(reason.serving.hasPrefix("denied AccessDenied (admitted by IP rule 1 (198.51.100.0/24))"))
                #expect(reason.candidate == "denied ForbiddenByFirewall")

                // The words, in moatctl's report and status.
                let printed = try await Self.moatctl(sandbox, daemon, "shadow", "report")
                #expect(printed.status == 0, "\(printed)")
                #expect(
                    printed.stdout.contains("allowed by IP rule 1 (198.51.100.0/24)"),
                    "\(printed)"
                )
                #expect(printed.stdout.contains("3 allow→deny, 0 deny→allow, 1 reason changes"), "\(printed)")
                let json = try await Self.moatctl(sandbox, daemon, "shadow", "report", "--json")
                let parsed = try JSONValue(parsing: Array(json.stdout.utf8))
                #expect(parsed["shadow"]?["allowToDeny"] == .number("3"), "\(json)")
                #expect(parsed["groups"]?.arrayValue?.count == 2, "\(json)")
                let status = try await daemon.status()
                #expect(status.shadow?.allowToDeny == 3)
                #expect(
                    try await daemon.control { try await $0.metrics() }.contains(
                        #"moat_shadow_changes_total{change="allow_to_deny"} 3"#
                    )
                )

                // Flips refuse --if-no-flips and a lower --max-flips, changing nothing.
                for limit in [["--if-no-flips"], ["--max-flips", "2"]] {
                    let refused = try await sandbox.run(
                        moatctlPath,
                        ["shadow", "promote"] + limit + ["--control-socket", daemon.controlSocket]
                    )
                    #expect(refused.status == 1, "\(refused)")
                    #expect(refused.stderr.contains("flips 3 of 15 checks"), "\(refused)")
                    #expect(try await daemon.status().revision?.hash == servingHash)
                    #expect(try sandbox.read(sandbox.rulesPath) == Self.serving)
                    #expect(try await daemon.status().shadow != nil)
                }

                let promote = try await Self.moatctl(sandbox, daemon, "shadow", "promote", "--max-flips", "3")
                #expect(promote.status == 0, "\(promote)")
                let after = try await daemon.status()
                let candidateHash = summary.candidate.hash
                #expect(after.revision?.hash == candidateHash)
                #expect(after.history.first?.hash == servingHash)
                #expect(after.shadow == nil)
                #expect(TestDocuments.hash(try sandbox.read(sandbox.rulesPath)) == candidateHash)
                // The promoted rules answer: the removed rule no longer admits.
                #expect(
                    try await Self.send(daemon, [Self.check(TestDocuments.alice, from: "198.51.100.7")])[0].innerCode
                        == .forbiddenByFirewall
                )

                // The decision log marked the three flips.
                #expect(await daemon.stop() == .exit(0))
                let lines = String(decoding: try sandbox.read(logPath), as: UTF8.self).split(separator: "\n")
                let flips = try lines.map { try JSONValue(parsing: Array($0.utf8)) }.compactMap { $0["shadowFlip"] }
                #expect(flips.count == 3, "\(lines)")
                #expect(flips.allSatisfy { $0["change"]?.stringValue == "allow→deny" })
                #expect(flips.allSatisfy { $0["candidate"]?.stringValue == "denied ForbiddenByFirewall" })
            }
        }

        @Test("a pushed candidate is not promoted once the serving document changed; one built by verbs is rebased")
        func servingChanged() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(Self.serving, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments)
                let candidateFile = sandbox.file("candidate.json")
                try sandbox.write(TestDocuments.document(defaultAction: "Allow"), to: candidateFile)
                let push = try await Self.moatctl(
                    sandbox,
                    daemon,
                    "shadow",
                    "push",
                    candidateFile,
                    "--sample-rate",
                    "0.5"
                )
                #expect(push.status == 0, "\(push)")
                #expect(try await daemon.status().shadow?.sampleRate == 0.5)

                // The serving document changes: the pushed candidate is still judged, not promoted.
                let add = try await Self.ipRule(sandbox, daemon, "add", "100.64.0.0/10")
                #expect(add.status == 0, "\(add)")
                let changed = try #require(try await daemon.status().revision)
                #expect(try await daemon.status().shadow?.baseChanged == true)
                let file = try sandbox.read(sandbox.rulesPath)
                let refused = try await Self.moatctl(sandbox, daemon, "shadow", "promote")
                #expect(refused.status == 1, "\(refused)")
                #expect(refused.stderr.contains("push the candidate again"), "\(refused)")
                #expect(try await daemon.status().revision == changed)
                #expect(try sandbox.read(sandbox.rulesPath) == file)

                let drop = try await Self.moatctl(sandbox, daemon, "shadow", "drop")
                #expect(drop.status == 0 && drop.stdout.contains("dropped the shadow candidate"), "\(drop)")
                #expect(try await daemon.status().shadow == nil)
                #expect(try await daemon.status().revision == changed)

                // Built by a verb: replayed onto the next serving change, and promoted onto it.
                let remove = try await Self.ipRule(sandbox, daemon, "remove", "198.51.100.0/24", shadow: true)
                #expect(remove.status == 0, "\(remove)")
                let again = try await Self.ipRule(sandbox, daemon, "add", "100.100.0.0/16")
                #expect(again.status == 0, "\(again)")
                let rebasedStatus = try await daemon.status()
                let rebased = try #require(rebasedStatus.shadow)
                #expect(rebased.base == rebasedStatus.revision)
                #expect(!rebased.baseChanged)
                #expect(daemon.stderr().contains("the shadow candidate was rebased onto it"))
                let promote = try await Self.moatctl(sandbox, daemon, "shadow", "promote", "--if-no-flips")
                #expect(promote.status == 0, "\(promote)")
                let promoted = String(decoding: try sandbox.read(sandbox.rulesPath), as: UTF8.self)
                #expect(promoted.contains("100.64.0.0/10") && promoted.contains("100.100.0.0/16"), "\(promoted)")
                #expect(!promoted.contains("198.51.100.0/24"), "\(promoted)")
                #expect(try await daemon.status().revision?.hash == rebased.candidate.hash)

                // Changes that no longer apply to the new serving document: the candidate is dropped, said in the log.
                let shadowRemove = try await Self.ipRule(sandbox, daemon, "remove", "203.0.113.0/24", shadow: true)
                #expect(shadowRemove.status == 0, "\(shadowRemove)")
                // A whole document without that rule is pushed: the change no longer applies.
                let pushedFile = sandbox.file("pushed.json")
                try sandbox.write(
                    TestDocuments.document(defaultAction: "Deny", ipRules: ["192.0.2.0/24"]),
                    to: pushedFile
                )
                let push2 = try await Self.moatctl(sandbox, daemon, "push", pushedFile)
                #expect(push2.status == 0, "\(push2)")
                #expect(try await daemon.status().shadow == nil)
                #expect(daemon.stderr().contains("was dropped: its changes no longer apply"), "\(daemon.stderr())")
            }
        }

        @Test("bad input gets a clear error and changes nothing")
        func badInput() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(Self.serving, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments)
                let before = try #require(try await daemon.status().revision)
                let invalidFile = sandbox.file("invalid.json")
                try sandbox.write(TestDocuments.invalid, to: invalidFile)

                let invalid = try await Self.moatctl(sandbox, daemon, "shadow", "push", invalidFile)
                #expect(invalid.status == 1, "\(invalid)")
                #expect(invalid.stderr.contains("networkAcls.defaultAction"), "\(invalid)")
                let noPromote = try await Self.moatctl(sandbox, daemon, "shadow", "promote")
                #expect(noPromote.status == 1, "\(noPromote)")
                #expect(noPromote.stderr.contains("no shadow candidate is loaded"), "\(noPromote)")
                let missing = try await Self.ipRule(sandbox, daemon, "remove", "100.64.0.0/10", shadow: true)
                #expect(missing.status == 1, "\(missing)")
                let rate = try await Self.moatctl(sandbox, daemon, "shadow", "push", invalidFile, "--sample-rate", "0")
                #expect(rate.status == 2 && rate.stderr.contains("--sample-rate"), "\(rate)")
                let pushShadow = try await Self.moatctl(sandbox, daemon, "push", invalidFile, "--shadow")
                #expect(pushShadow.status == 2, "\(pushShadow)")
                // The daemon checks the rate itself.
                for wrong in [1.5, -0.25, .nan] {
                    let error = await #expect(throws: MoatClientError.self) {
                        try await daemon.control { try await $0.shadowPush(Self.serving, sampleRate: wrong) }
                    }
                    #expect(
                        error?.message.contains("sample rate must be in (0, 1]") == true,
                        "\(String(describing: error))"
                    )
                }
                let report = try await Self.moatctl(sandbox, daemon, "shadow", "report")
                #expect(report.status == 0 && report.stdout.contains("no shadow candidate is loaded"), "\(report)")

                let status = try await daemon.status()
                #expect(status.shadow == nil)
                #expect(status.revision == before)
                #expect(try sandbox.read(sandbox.rulesPath) == Self.serving)
            }
        }

        @Test("the report stays bounded under 100 000 distinct callers, every check counted")
        func bounded() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments)
                // Every caller but alice is refused by her access policy; the candidate's firewall
                // refuses them first: one reason change per caller.
                let push = try await daemon.control { try await $0.shadowPush(TestDocuments.denying) }
                #expect(push.changed)
                let total = 100_000
                let batch = 1024
                let denied = try await daemon.withClient(connections: 4) { client in
                    try await withThrowingTaskGroup(of: Int.self) { group in
                        var denied = 0
                        for start in stride(from: 0, to: total, by: batch) {
                            group.addTask {
                                let requests = (start..<min(total, start + batch)).map { index in
                                    Self.check(
                                        String(format: "c0000000-0000-4000-8000-%012x", index),
                                        from: "203.0.113.9"
                                    )
                                }
                                let results = await client.checkBatch(requests)
                                return results.filter { $0.decision?.innerCode == .accessDenied }.count
                            }
                            // Eight batches in flight at most.
                            if start / batch >= 8 { denied += try await group.next() ?? 0 }
                        }
                        for try await count in group { denied += count }
                        return denied
                    }
                }
                #expect(denied == total)
                let report = try await daemon.control { try await $0.shadowReport() }
                let summary = try #require(report.summary)
                // Every check judged or, when the judge fell behind, counted as skipped.
                #expect(summary.compared + summary.skipped == UInt64(total))
                #expect(summary.compared > 0)
                #expect(summary.reasonChanged == summary.compared)
                #expect(summary.allowToDeny == 0 && summary.denyToAllow == 0)
                #expect(report.groups.count == min(100, Int(summary.compared)))
                #expect(report.groups.allSatisfy { $0.change == .reason })
                #expect(report.groups.reduce(0) { $0 + $1.count } + report.otherReasonChanged == summary.compared)
            }
        }
    }
}
