import Foundation
import MoatClient
import MoatCore
import MoatWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension MoatdIntegrationTests {
    /// The control socket through `moatctl` (README.md, "Changing rules on a running daemon": exit 0 with one line
    /// naming the new revision, 1 when the daemon refused and nothing changed, 3 when it cannot be
    /// reached) and through `MoatControlClient` for the status codes. Every accepted change must be
    /// in the rules file as soon as the command returns: the write-back comes before the answer.
    @Suite("Control commands")
    struct ControlCommands {
        static let hashA = TestDocuments.hash(TestDocuments.allowing)
        static let hashB = TestDocuments.hash(TestDocuments.denying)

        /// A daemon serving `TestDocuments.allowing` as revision 1, and the other documents as files.
        static func withDaemon(_ body: (Sandbox, DaemonProcess) async throws -> Void) async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                try sandbox.write(TestDocuments.allowing, to: sandbox.file("allowing.json"))
                try sandbox.write(TestDocuments.denying, to: sandbox.file("denying.json"))
                try sandbox.write(TestDocuments.invalid, to: sandbox.file("invalid.json"))
                let daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments)
                try await daemon.waitUntilServing(hash: hashA)
                try await body(sandbox, daemon)
                #expect(await daemon.stop() == .exit(0))
            }
        }

        /// The rules file and the serving revision are still those `withDaemon` started with.
        static func expectNothingChanged(_ sandbox: Sandbox, _ daemon: DaemonProcess) async throws {
            #expect(try sandbox.read(daemon.rules) == TestDocuments.allowing)
            #expect(try await daemon.status().revision == Revision(sequence: 1, hash: hashA))
        }

        /// The one line a successful change prints: "...; revision N (HASH)".
        static func revisionLine(_ result: ToolResult) -> (sequence: UInt64, hash: String, unchanged: Bool)? {
            let lines = result.stdout.split(separator: "\n")
            guard lines.count == 1, let marker = lines[0].range(of: "; revision ", options: .backwards) else {
                return nil
            }
            let words = lines[0][marker.upperBound...].split(separator: " ")
            guard words.count >= 2, let sequence = UInt64(words[0]) else { return nil }
            let hash = words[1].trimmingCharacters(in: CharacterSet(charactersIn: "()"))
            return (sequence, hash, words.count == 3 && words[2] == "unchanged")
        }

        /// Whether the command printed one line naming revision `sequence` (`hash`) as new.
        static func names(_ result: ToolResult, _ sequence: UInt64, _ hash: String) -> Bool {
            guard let line = revisionLine(result) else { return false }
            return line.sequence == sequence && line.hash == hash && !line.unchanged
        }

        @Test(
            "push: one line with the new revision, the file written before it returns; the same document again: no new revision"
        )
        func push() async throws {
            try await Self.withDaemon { sandbox, daemon in
                let push = try await sandbox.moatctl(
                    "push",
                    "--control-socket",
                    daemon.controlSocket,
                    sandbox.file("denying.json")
                )
                #expect(push.status == 0, "\(push)")
                let line = Self.revisionLine(push)
                #expect(line?.sequence == 2 && line?.hash == Self.hashB && line?.unchanged == false, "\(push)")
                #expect(
                    try sandbox.read(daemon.rules) == TestDocuments.denying,
                    "the rules file does not hold the pushed document when push returns"
                )
                #expect(try await daemon.status().revision == Revision(sequence: 2, hash: Self.hashB))
                let denied = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                #expect(
                    denied.decision?.outcome == .deny && denied.decision?.revision.hash == Self.hashB,
                    "\(denied.summary)"
                )

                let again = try await sandbox.moatctl(
                    "push",
                    "--control-socket",
                    daemon.controlSocket,
                    sandbox.file("denying.json")
                )
                #expect(again.status == 0, "\(again)")
                let unchanged = Self.revisionLine(again)
                #expect(
                    unchanged?.sequence == 2 && unchanged?.hash == Self.hashB && unchanged?.unchanged == true,
                    "\(again)"
                )
                #expect(try await daemon.status().revision?.sequence == 2)

                // From standard input, and with the socket from MOAT_CONTROL_SOCKET.
                let piped = try await sandbox.moatctl(
                    "push",
                    "-",
                    stdin: TestDocuments.allowing,
                    environment: ["MOAT_CONTROL_SOCKET": daemon.controlSocket]
                )
                #expect(piped.status == 0, "\(piped)")
                #expect(Self.revisionLine(piped)?.sequence == 3)
                #expect(try sandbox.read(daemon.rules) == TestDocuments.allowing)
            }
        }

        @Test("push of an invalid document: exit 1, every error with its JSON path on stderr, nothing changed")
        func pushInvalid() async throws {
            try await Self.withDaemon { sandbox, daemon in
                let push = try await sandbox.moatctl(
                    "push",
                    "--control-socket",
                    daemon.controlSocket,
                    sandbox.file("invalid.json")
                )
                #expect(push.status == 1, "\(push)")
                #expect(push.stdout.isEmpty, "\(push)")
                #expect(push.stderr.contains("vaults[0].properties.networkAcls.defaultAction: "), "\(push)")
                #expect(push.stderr.contains("vaults[0].properties.accessPolicies[0].objectId: "), "\(push)")
                try await Self.expectNothingChanged(sandbox, daemon)

                let refused = await #expect(throws: MoatClientError.self) {
                    try await daemon.control { try await $0.putDocument(TestDocuments.invalid) }
                }
                #expect(refused?.status == .invalidArgument)
                #expect(
                    refused?.details.map(\.path) == [
                        "vaults[0].properties.networkAcls.defaultAction",
                        "vaults[0].properties.accessPolicies[0].objectId",
                    ]
                )

                // Not JSON at all.
                let garbage = sandbox.file("garbage.json")
                try sandbox.write(Array("{\"vaults\": [".utf8), to: garbage)
                let notJSON = try await sandbox.moatctl("push", "--control-socket", daemon.controlSocket, garbage)
                #expect(notJSON.status == 1, "\(notJSON)")
                try await Self.expectNothingChanged(sandbox, daemon)
            }
        }

        @Test("push --expected-revision: a mismatch is ABORTED (exit 1, nothing changed); the current hash is accepted")
        func expectedRevision() async throws {
            try await Self.withDaemon { sandbox, daemon in
                let stale = try await sandbox.moatctl(
                    "push",
                    "--control-socket",
                    daemon.controlSocket,
                    "--expected-revision",
                    Self.hashB,
                    sandbox.file("denying.json")
                )
                #expect(stale.status == 1, "\(stale)")
                #expect(stale.stderr.contains(Self.hashA) && stale.stderr.contains(Self.hashB), "\(stale)")
                try await Self.expectNothingChanged(sandbox, daemon)
                let aborted = await #expect(throws: MoatClientError.self) {
                    try await daemon.control {
                        try await $0.putDocument(TestDocuments.denying, expectedRevision: Self.hashB)
                    }
                }
                #expect(aborted?.status == .aborted)

                let current = try await sandbox.moatctl(
                    "push",
                    "--control-socket",
                    daemon.controlSocket,
                    "--expected-revision",
                    Self.hashA,
                    sandbox.file("denying.json")
                )
                #expect(current.status == 0, "\(current)")
                #expect(Self.revisionLine(current)?.hash == Self.hashB)
                #expect(try sandbox.read(daemon.rules) == TestDocuments.denying)
            }
        }

        @Test("push --dry-run: validated and reported, nothing changed")
        func dryRun() async throws {
            try await Self.withDaemon { sandbox, daemon in
                let dry = try await sandbox.moatctl(
                    "push",
                    "--control-socket",
                    daemon.controlSocket,
                    "--dry-run",
                    sandbox.file("denying.json")
                )
                #expect(dry.status == 0, "\(dry)")
                #expect(dry.stdout.contains("dry run") && dry.stdout.contains(Self.hashB), "\(dry)")
                try await Self.expectNothingChanged(sandbox, daemon)
                let allowed = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                #expect(allowed.decision?.outcome == .allow)

                let invalid = try await sandbox.moatctl(
                    "push",
                    "--control-socket",
                    daemon.controlSocket,
                    "--dry-run",
                    sandbox.file("invalid.json")
                )
                #expect(invalid.status == 1, "\(invalid)")
                #expect(invalid.stderr.contains("vaults[0].properties.networkAcls.defaultAction"), "\(invalid)")
            }
        }

        @Test("status, get and get --vault")
        func statusAndGet() async throws {
            try await Self.withDaemon { sandbox, daemon in
                let status = try await sandbox.moatctl("status", "--control-socket", daemon.controlSocket)
                #expect(status.status == 0, "\(status)")
                #expect(status.stdout.contains("ready:           yes"), "\(status)")
                #expect(status.stdout.contains("revision:        1 (\(Self.hashA))"), "\(status)")
                #expect(status.stdout.contains("rules file:      \(daemon.rules)"), "\(status)")

                let json = try await sandbox.moatctl(
                    "status",
                    "--json",
                    environment: ["MOAT_CONTROL_SOCKET": daemon.controlSocket]
                )
                #expect(json.status == 0, "\(json)")
                let value = try JSONValue(parsing: Array(json.stdout.utf8))
                #expect(value["ready"] == .bool(true))
                #expect(value["revision"]?["hash"]?.stringValue == Self.hashA)
                #expect(value["vaults"] == .number("1") && value["accessPolicies"] == .number("1"))

                let get = try await sandbox.moatctl("get", "--control-socket", daemon.controlSocket)
                #expect(get.status == 0, "\(get)")
                #expect(Array(get.stdout.utf8) == TestDocuments.allowing)

                let vault = try await sandbox.moatctl(
                    "get",
                    "--control-socket",
                    daemon.controlSocket,
                    "--vault",
                    TestDocuments.vault
                )
                #expect(vault.status == 0, "\(vault)")
                let entry = try JSONValue(parsing: Array(vault.stdout.utf8))
                #expect(entry["name"]?.stringValue == TestDocuments.vault)
                #expect(entry["properties"]?["networkAcls"]?["defaultAction"]?.stringValue == "Allow")

                let missing = try await sandbox.moatctl(
                    "get",
                    "--control-socket",
                    daemon.controlSocket,
                    "--vault",
                    "no-such-vault"
                )
                #expect(missing.status == 1, "\(missing)")
                let notFound = await #expect(throws: MoatClientError.self) {
                    try await daemon.control { try await $0.document(vault: "no-such-vault") }
                }
                #expect(notFound?.status == .notFound)
            }
        }

        @Test("rollback: each one goes one revision further back, written to the file; a hash not kept is NOT_FOUND")
        func rollback() async throws {
            try await Self.withDaemon { sandbox, daemon in
                let third = TestDocuments.document(tag: "third")
                let hashC = TestDocuments.hash(third)
                try sandbox.write(third, to: sandbox.file("third.json"))
                for file in ["denying.json", "third.json"] {
                    #expect(
                        try await sandbox.moatctl("push", "--control-socket", daemon.controlSocket, sandbox.file(file))
                            .status == 0
                    )
                }
                let history = try await daemon.status().history
                #expect(history == [Revision(sequence: 2, hash: Self.hashB), Revision(sequence: 1, hash: Self.hashA)])

                let first = try await sandbox.moatctl("rollback", "--control-socket", daemon.controlSocket)
                #expect(first.status == 0, "\(first)")
                #expect(Self.names(first, 4, Self.hashB), "\(first)")
                #expect(try sandbox.read(daemon.rules) == TestDocuments.denying)

                let second = try await sandbox.moatctl("rollback", "--control-socket", daemon.controlSocket)
                #expect(second.status == 0, "\(second)")
                #expect(Self.names(second, 5, Self.hashA), "\(second)")
                #expect(try sandbox.read(daemon.rules) == TestDocuments.allowing)
                let allowed = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                #expect(allowed.decision?.revision == Revision(sequence: 5, hash: Self.hashA), "\(allowed.summary)")

                // Nothing before the first revision.
                let none = try await sandbox.moatctl("rollback", "--control-socket", daemon.controlSocket)
                #expect(none.status == 1, "\(none)")
                #expect(try await daemon.status().revision == Revision(sequence: 5, hash: Self.hashA))

                // By hash: forward to the third document, which is still kept.
                let named = try await sandbox.moatctl("rollback", "--control-socket", daemon.controlSocket, hashC)
                #expect(named.status == 0, "\(named)")
                #expect(Self.names(named, 6, hashC), "\(named)")
                #expect(try sandbox.read(daemon.rules) == third)

                let unknown = try await sandbox.moatctl(
                    "rollback",
                    "--control-socket",
                    daemon.controlSocket,
                    "0123456789abcdef"
                )
                #expect(unknown.status == 1, "\(unknown)")
                #expect(unknown.stderr.contains("0123456789abcdef"), "\(unknown)")
                #expect(try sandbox.read(daemon.rules) == third)
                let notKept = await #expect(throws: MoatClientError.self) {
                    try await daemon.control { try await $0.rollback(to: "0123456789abcdef") }
                }
                #expect(notKept?.status == .notFound)
                #expect(try await daemon.status().revision == Revision(sequence: 6, hash: hashC))
            }
        }

        @Test("five revisions before the current one are kept for rollback")
        func keptRevisions() async throws {
            try await Self.withDaemon { sandbox, daemon in
                let documents = (1...7).map { TestDocuments.document(tag: "v\($0)") }
                for document in documents {
                    _ = try await daemon.control { try await $0.putDocument(document) }
                }
                let status = try await daemon.status()
                #expect(status.revision?.sequence == 8)
                #expect(status.history.map(\.hash) == documents[1..<6].reversed().map(TestDocuments.hash))
                let tooOld = try await sandbox.moatctl(
                    "rollback",
                    "--control-socket",
                    daemon.controlSocket,
                    TestDocuments.hash(documents[0])
                )
                #expect(tooOld.status == 1, "\(tooOld)")
                let oldest = try await sandbox.moatctl(
                    "rollback",
                    "--control-socket",
                    daemon.controlSocket,
                    TestDocuments.hash(documents[1])
                )
                #expect(Self.names(oldest, 9, TestDocuments.hash(documents[1])), "\(oldest)")
                #expect(try sandbox.read(daemon.rules) == documents[1])
            }
        }

        @Test("metrics: Prometheus text counting the checks, the revision and the connections")
        func metrics() async throws {
            try await Self.withDaemon { sandbox, daemon in
                _ = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                let metrics = try await sandbox.moatctl("metrics", "--control-socket", daemon.controlSocket)
                #expect(metrics.status == 0 && metrics.stdout.hasSuffix("\n"), "\(metrics)")
                let lines = Set(metrics.stdout.split(separator: "\n").map(String.init))
                for expected in [
                    #"moat_checks_total{decision="allow",inner_code=""} 1"#,
                    #"moat_checks_total{decision="deny",inner_code="ForbiddenByFirewall"} 0"#,
                    "moat_check_duration_seconds_count 1",
                    "moat_snapshot_sequence 1.0",
                    #"moat_reloads_total{result="success"} 1"#,
                    #"moat_connections{socket="control"} 1.0"#,
                    #"moat_refusals_total{reason="unknown_method"} 0"#,
                ] {
                    #expect(lines.contains(expected), "no line '\(expected)' in:\n\(metrics.stdout)")
                }
            }
        }

        @Test("reload: when it returns, the daemon serves what the file holds")
        func reload() async throws {
            try await Self.withDaemon { sandbox, daemon in
                try sandbox.writeAtomically(TestDocuments.denying, to: daemon.rules)
                let reload = try await sandbox.moatctl("reload", "--control-socket", daemon.controlSocket)
                #expect(reload.status == 0, "\(reload)")
                // The watcher may have been first; either way the line names the file's revision.
                #expect(Self.revisionLine(reload)?.hash == Self.hashB, "\(reload)")
                #expect(try await daemon.status().revision == Revision(sequence: 2, hash: Self.hashB))
                let again = try await sandbox.moatctl("reload", "--control-socket", daemon.controlSocket)
                #expect(again.status == 0 && Self.revisionLine(again)?.unchanged == true, "\(again)")
            }
        }

        @Test("the write-back keeps the file's mode, and writes through a symbolic link without replacing it")
        func writeBackKeepsModeAndLink() async throws {
            try await withSandbox { sandbox in
                let real = sandbox.file("managed")
                try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: false)
                try sandbox.write(TestDocuments.allowing, to: "\(real)/rules.json")
                #expect(chmod("\(real)/rules.json", 0o640) == 0)
                #expect(symlink("managed/rules.json", sandbox.rulesPath) == 0)
                let daemon = try await sandbox.startDaemon()
                let put = try await daemon.control { try await $0.putDocument(TestDocuments.denying) }
                #expect(put.changed && put.revision.hash == Self.hashB)
                #expect(
                    try FileManager.default.destinationOfSymbolicLink(atPath: sandbox.rulesPath) == "managed/rules.json"
                )
                #expect(try sandbox.read("\(real)/rules.json") == TestDocuments.denying)
                #expect(fileMode("\(real)/rules.json") == 0o640)
                #expect(await daemon.stop() == .exit(0))
            }
        }

        @Test("a read-only rules file: push fails with FAILED_PRECONDITION (exit 1), the daemon keeps serving")
        func readOnlyRulesFile() async throws {
            try await Self.withDaemon { sandbox, daemon in
                #expect(chmod(daemon.rules, 0o444) == 0)
                let push = try await sandbox.moatctl(
                    "push",
                    "--control-socket",
                    daemon.controlSocket,
                    sandbox.file("denying.json")
                )
                #expect(push.status == 1, "\(push)")
                #expect(push.stderr.contains("read-only"), "\(push)")
                let readOnly = await #expect(throws: MoatClientError.self) {
                    try await daemon.control { try await $0.putDocument(TestDocuments.denying) }
                }
                #expect(readOnly?.status == .failedPrecondition)
                #expect(try sandbox.read(daemon.rules) == TestDocuments.allowing)
                #expect(fileMode(daemon.rules) == 0o444)
                #expect(try await daemon.status().revision == Revision(sequence: 1, hash: Self.hashA))
                let allowed = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                #expect(allowed.decision?.outcome == .allow, "\(allowed.summary)")
            }
        }

        /// docs/protocol.md, "Status codes": FAILED_PRECONDITION when the rules file cannot be written,
        /// as when it lives behind a Kubernetes ConfigMap `..data` link. kubelet replaces the
        /// timestamped directory on the next update, so a write there would be silently lost.
        @Test("a rules file behind a ConfigMap ..data link: push fails with FAILED_PRECONDITION")
        func configMapPushRefused() async throws {
            try await withSandbox { sandbox in
                let volume = sandbox.file("config")
                try Readiness.makeConfigMap(in: volume, timestamp: "..2024_01_01", document: TestDocuments.allowing)
                let daemon = try await sandbox.startDaemon(rules: "\(volume)/rules.json")
                try await daemon.waitUntilServing(hash: Self.hashA)
                let managed = await #expect(throws: MoatClientError.self) {
                    try await daemon.control { try await $0.putDocument(TestDocuments.denying) }
                }
                #expect(managed?.status == .failedPrecondition)
                #expect(try sandbox.read("\(volume)/..2024_01_01/rules.json") == TestDocuments.allowing)
                #expect(try await daemon.status().revision?.hash == Self.hashA)
                #expect(await daemon.stop() == .exit(0))
            }
        }

        @Test("ApplyChange: a new revision written back in the rules-file layout; an unchanged edit and unknown names")
        func applyChange() async throws {
            try await withSandbox { sandbox in
                let tagged = TestDocuments.document(tag: "kept")
                try sandbox.write(tagged, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments)
                let added = try await daemon.control {
                    try await $0.apply(.addIpRule(vault: TestDocuments.vault, value: "198.51.100.0/24"))
                }
                #expect(added.changed && added.revision.sequence == 2)
                let file = try sandbox.read(daemon.rules)
                #expect(TestDocuments.hash(file) == added.revision.hash)
                let value = try JSONValue(parsing: file)
                // Sorted keys, two-space indentation, fields Moat does not use kept.
                #expect(file == Array((value.serialized(.document) + "\n").utf8))
                #expect(value["vaults"]?.arrayValue?.first?["tags"]?["it"]?.stringValue == "kept")
                #expect(
                    value["vaults"]?.arrayValue?.first?["properties"]?["networkAcls"]?["ipRules"]?.arrayValue?.first?[
                        "value"
                    ]?.stringValue == "198.51.100.0/24"
                )

                let again = try await daemon.control {
                    try await $0.apply(.addIpRule(vault: TestDocuments.vault, value: "198.51.100.0/24"))
                }
                #expect(!again.changed && again.revision == added.revision)
                for change in [
                    DocumentChange.removeIpRule(vault: TestDocuments.vault, value: "192.0.2.1"),
                    .addIpRule(vault: "no-such-vault", value: "192.0.2.1"),
                ] {
                    let refused = await #expect(throws: MoatClientError.self, "\(change)") {
                        try await daemon.control { try await $0.apply(change) }
                    }
                    #expect(refused?.status == .notFound, "\(change)")
                }
                #expect(try sandbox.read(daemon.rules) == file)
                #expect(await daemon.stop() == .exit(0))
            }
        }

        @Test("moatctl with no daemon: exit 3")
        func noDaemon() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.file("allowing.json"))
                try sandbox.write(TestDocuments.aliceGetsSecretJSON(), to: sandbox.file("request.json"))
                let control = sandbox.file("control.sock")
                for arguments in [
                    ["status"], ["get"], ["push", sandbox.file("allowing.json")], ["rollback"], ["reload"], ["metrics"],
                ] {
                    let result = try await sandbox.run(moatctlPath, arguments + ["--control-socket", control])
                    #expect(result.status == 3, "moatctl \(arguments): \(result)")
                }
                let check = try await sandbox.moatctl(
                    "check",
                    "--socket",
                    sandbox.file("moat.sock"),
                    "--request",
                    sandbox.file("request.json")
                )
                #expect(check.status == 3, "\(check)")
                let error = try? JSONValue(parsing: Array(check.stdout.utf8))
                #expect(error?["error"]?["code"]?.stringValue == "UNAVAILABLE", "\(check)")

                // A stale socket file with nobody behind it is no daemon either.
                let killed = try await sandbox.startDaemon(rules: sandbox.file("allowing.json"))
                await killed.killHard()
                let stale = try await sandbox.moatctl("status", "--control-socket", killed.controlSocket)
                #expect(stale.status == 3, "\(stale)")
            }
        }
    }
}
