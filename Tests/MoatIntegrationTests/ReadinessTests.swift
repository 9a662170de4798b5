import Foundation
import MoatClient
import MoatCore
import MoatWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension MoatdIntegrationTests {
    /// docs/protocol.md and README.md, "Running moatd": started with a missing or invalid rules file, moatd runs
    /// not-ready (Ping and Status answer, checks get UNAVAILABLE) and becomes ready when the file
    /// becomes valid; README.md, "Running moatd": the file is watched with inotify (atomic
    /// renames, Kubernetes ConfigMap symlink swaps), and a bad file keeps the old revision.
    ///
    /// These daemons run with `--poll-interval 3600`, so what they pick up they saw through inotify.
    @Suite("Readiness and the watched rules file")
    struct Readiness {
        static let watchOnly = ["--poll-interval", "3600"]

        @Test("a missing rules file: not ready, checks UNAVAILABLE, Status works; a valid file makes it ready")
        func missingRulesFile() async throws {
            try await withSandbox { sandbox in
                let daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments + Self.watchOnly)
                let status = try await daemon.status()
                #expect(!status.ready && status.revision == nil)
                #expect(status.notReadyReason?.isEmpty == false)
                #expect(status.rulesFile == sandbox.rulesPath)

                try await daemon.withClient { client in
                    let pong = try await client.ping()
                    #expect(!pong.ready && pong.revision == nil)
                    let result = await client.check(TestDocuments.aliceGetsSecret())
                    #expect(result.error?.status == .unavailable, "\(result.summary)")
                    #expect(!result.isAllowed && !result.failedOpen)
                    let batch = await client.checkBatch([TestDocuments.aliceGetsSecret()])
                    #expect(batch.first?.error?.status == .unavailable)
                }

                let request = sandbox.file("request.json")
                try sandbox.write(TestDocuments.aliceGetsSecretJSON(), to: request)
                let check = try await sandbox.moatctl("check", "--socket", daemon.socket, "--request", request)
                #expect(check.status == 3, "\(check)")
                let error = try? JSONValue(parsing: Array(check.stdout.utf8))
                #expect(error?["error"]?["code"]?.stringValue == "UNAVAILABLE", "\(check)")
                #expect(error?["error"]?["message"]?.stringValue?.isEmpty == false, "\(check)")
                let statusCommand = try await sandbox.moatctl("status", "--control-socket", daemon.controlSocket)
                #expect(
                    statusCommand.status == 0 && statusCommand.stdout.contains("ready:           no"),
                    "\(statusCommand)"
                )

                // The file appears (atomically, as a deployment writes it).
                try sandbox.writeAtomically(TestDocuments.allowing, to: sandbox.rulesPath)
                try await eventually("moatd to become ready after the rules file appeared") {
                    try await daemon.withClient { try await $0.ping() }.ready
                }
                let ready = try await daemon.status()
                #expect(
                    ready.ready
                        && ready.revision == Revision(sequence: 1, hash: TestDocuments.hash(TestDocuments.allowing))
                )
                let allowed = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                #expect(allowed.decision?.outcome == .allow, "\(allowed.summary)")
                let checkAgain = try await sandbox.moatctl("check", "--socket", daemon.socket, "--request", request)
                #expect(checkAgain.status == 0, "\(checkAgain)")
                #expect(
                    (try? JSONValue(parsing: Array(checkAgain.stdout.utf8)))?["decision"]?.stringValue == "ALLOW",
                    "\(checkAgain)"
                )
                #expect(await daemon.stop() == .exit(0))
            }
        }

        @Test("an invalid rules file at start: not ready, Status says why; fixed in place: ready")
        func invalidAtStart() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.invalid, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: Self.watchOnly)
                let status = try await daemon.status()
                #expect(!status.ready && status.reloadFailures >= 1)
                #expect(status.lastReloadError?.contains("defaultAction") == true, "\(status.lastReloadError ?? "nil")")
                // Rewritten in place (not renamed): inotify reports the close after writing.
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                try await daemon.waitUntilServing(hash: TestDocuments.hash(TestDocuments.allowing))
                let ready = try await daemon.status()
                #expect(ready.ready && ready.lastReloadError == nil && ready.notReadyReason == nil)
                #expect(await daemon.stop() == .exit(0))
            }
        }

        @Test("a later invalid file keeps the old revision, Status shows the failure; a valid one is taken")
        func invalidLater() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments + Self.watchOnly)
                let before = try await daemon.status()
                #expect(before.reloadFailures == 0 && before.lastReloadError == nil)

                try sandbox.writeAtomically(TestDocuments.invalid, to: sandbox.rulesPath)
                var failed = before
                try await eventually("Status to report the failed reload") {
                    failed = try await daemon.status()
                    return failed.reloadFailures > before.reloadFailures
                }
                #expect(failed.ready)
                #expect(failed.revision == before.revision)
                #expect(failed.lastReloadError?.isEmpty == false)
                let result = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                #expect(
                    result.decision?.outcome == .allow && result.decision?.revision == before.revision,
                    "\(result.summary)"
                )
                // The reload command says what is wrong, with JSON paths, and changes nothing.
                let reload = try await sandbox.moatctl("reload", "--control-socket", daemon.controlSocket)
                #expect(reload.status == 1, "\(reload)")
                #expect(reload.stderr.contains("vaults[0].properties.networkAcls.defaultAction"), "\(reload)")
                #expect(try await daemon.status().revision == before.revision)

                // Text that is not JSON at all: the same.
                try sandbox.writeAtomically(Array("{\"vaults\": [".utf8), to: sandbox.rulesPath)
                try await eventually("Status to report the second failed reload") {
                    try await daemon.status().reloadFailures > failed.reloadFailures
                }
                #expect(try await daemon.status().revision == before.revision)

                try sandbox.writeAtomically(TestDocuments.denying, to: sandbox.rulesPath)
                try await daemon.waitUntilServing(hash: TestDocuments.hash(TestDocuments.denying))
                let after = try await daemon.status()
                #expect(after.revision?.sequence == 2 && after.lastReloadError == nil)
                let denied = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                #expect(
                    denied.decision?.outcome == .deny && denied.decision?.innerCode == .forbiddenByFirewall,
                    "\(denied.summary)"
                )
                #expect(await daemon.stop() == .exit(0))
            }
        }

        @Test("SIGHUP reloads a change the watcher did not report")
        func sighup() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: Self.watchOnly)
                // Rewritten in place and kept open: inotify reports no close-after-write (and the
                // poll is an hour away), so only SIGHUP can make the daemon look.
                let fd = open(sandbox.rulesPath, O_WRONLY | O_TRUNC | O_CLOEXEC)
                try #require(fd >= 0)
                defer { close(fd) }
                let written = TestDocuments.denying.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                try #require(written == TestDocuments.denying.count)
                daemon.send(SIGHUP)
                try await daemon.waitUntilServing(hash: TestDocuments.hash(TestDocuments.denying))
                // Unchanged content: looking again makes no new revision.
                let reload = try await sandbox.moatctl("reload", "--control-socket", daemon.controlSocket)
                #expect(reload.status == 0, "\(reload)")
                #expect(try await daemon.status().revision?.sequence == 2)
                #expect(await daemon.stop() == .exit(0))
            }
        }

        @Test("a push makes a daemon without rules ready, and creates the rules file")
        func pushWhenNotReady() async throws {
            try await withSandbox { sandbox in
                let daemon = try await sandbox.startDaemon(arguments: Self.watchOnly)
                #expect(try await daemon.status().ready == false)
                let input = sandbox.file("allowing.json")
                try sandbox.write(TestDocuments.allowing, to: input)
                let push = try await sandbox.moatctl("push", "--control-socket", daemon.controlSocket, input)
                #expect(push.status == 0, "\(push)")
                #expect(try sandbox.read(daemon.rules) == TestDocuments.allowing)
                let status = try await daemon.status()
                #expect(
                    status.ready
                        && status.revision == Revision(sequence: 1, hash: TestDocuments.hash(TestDocuments.allowing))
                )
                #expect(await daemon.stop() == .exit(0))
            }
        }

        @Test("a deleted rules file keeps the revision serving; a new file is picked up")
        func rulesFileDeleted() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments + Self.watchOnly)
                let before = try await daemon.status()
                #expect(unlink(sandbox.rulesPath) == 0)
                try await eventually("Status to report that the rules file is gone") {
                    try await daemon.status().reloadFailures > before.reloadFailures
                }
                let status = try await daemon.status()
                #expect(status.ready && status.revision == before.revision)
                let result = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                #expect(result.decision?.outcome == .allow, "\(result.summary)")
                try sandbox.writeAtomically(TestDocuments.denying, to: sandbox.rulesPath)
                try await daemon.waitUntilServing(hash: TestDocuments.hash(TestDocuments.denying))
                #expect(await daemon.stop() == .exit(0))
            }
        }

        @Test("a Kubernetes ConfigMap layout: each swap of the ..data link is picked up")
        func configMapSwap() async throws {
            try await withSandbox { sandbox in
                let volume = sandbox.file("config")
                try Self.makeConfigMap(in: volume, timestamp: "..2024_01_01", document: TestDocuments.allowing)
                let rules = "\(volume)/rules.json"
                let daemon = try await sandbox.startDaemon(
                    rules: rules,
                    arguments: TestDocuments.asserterArguments + Self.watchOnly
                )
                try await daemon.waitUntilServing(hash: TestDocuments.hash(TestDocuments.allowing))

                for (index, document) in [
                    TestDocuments.denying, TestDocuments.allowing, TestDocuments.document(tag: "third"),
                ].enumerated() {
                    try Self.swapConfigMap(in: volume, to: "..2024_01_0\(index + 2)", document: document)
                    try await daemon.waitUntilServing(hash: TestDocuments.hash(document))
                }
                let status = try await daemon.status()
                #expect(status.revision?.sequence == 4)
                #expect(status.rulesFile == rules)
                let result = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                #expect(result.decision?.outcome == .allow, "\(result.summary)")
                #expect(await daemon.stop() == .exit(0))
            }
        }

        /// kubelet's layout: `rules.json -> ..data/rules.json`, `..data -> ..<timestamp>`.
        static func makeConfigMap(in volume: String, timestamp: String, document: [UInt8]) throws {
            try FileManager.default.createDirectory(atPath: "\(volume)/\(timestamp)", withIntermediateDirectories: true)
            try Data(document).write(to: URL(fileURLWithPath: "\(volume)/\(timestamp)/rules.json"))
            guard symlink(timestamp, "\(volume)/..data") == 0, symlink("..data/rules.json", "\(volume)/rules.json") == 0
            else {
                throw HarnessError("symlink: \(String(cString: strerror(errno)))")
            }
        }

        /// kubelet's update: a new timestamped directory, a `..data_tmp` link to it renamed over
        /// `..data` (atomic), then the old directory removed.
        static func swapConfigMap(in volume: String, to timestamp: String, document: [UInt8]) throws {
            let old = try FileManager.default.destinationOfSymbolicLink(atPath: "\(volume)/..data")
            try FileManager.default.createDirectory(
                atPath: "\(volume)/\(timestamp)",
                withIntermediateDirectories: false
            )
            try Data(document).write(to: URL(fileURLWithPath: "\(volume)/\(timestamp)/rules.json"))
            guard symlink(timestamp, "\(volume)/..data_tmp") == 0,
                rename("\(volume)/..data_tmp", "\(volume)/..data") == 0
            else {
                throw HarnessError("swapping ..data: \(String(cString: strerror(errno)))")
            }
            try FileManager.default.removeItem(atPath: "\(volume)/\(old)")
        }
    }
}
