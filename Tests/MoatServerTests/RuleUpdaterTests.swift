import Foundation
import MoatCore
import MoatIdentity
import MoatTestSupport
import MoatWire
import Testing

@testable import MoatServer

@Suite("Rule updates: revisions, write-back, rollback")
struct RuleUpdaterTests {
    struct Setup {
        let path: String
        let store = RuleStore()
        let updater: RuleUpdater

        init(directory: String, initial: [UInt8]?, calls: RulesFile.SystemCalls = .init()) {
            path = directory + "/rules.json"
            if let initial { Fixture.write(initial, to: path) }
            var file = RulesFile(path: path)
            file.calls = calls
            updater = RuleUpdater(
                file: file,
                store: store,
                metrics: ServerMetrics(),
                logger: Fixture.logger
            )
        }
    }

    @Test("the file is loaded as revision 1 with its content hash; an unchanged file makes no new revision")
    func initialLoad() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let setup = Setup(directory: directory, initial: Fixture.document())
            let result = try await setup.updater.reloadFromFile(reason: "test", force: true).get()
            #expect(result.changed)
            #expect(result.revision == Revision(sequence: 1, hash: RevisionHash.of(Fixture.document())))
            let again = try await setup.updater.reloadFromFile(reason: "test", force: true).get()
            #expect(!again.changed)
            #expect(setup.store.serving?.revision.sequence == 1)
        }
    }

    @Test("a look that finds the file holding the serving rules confirms them; a missing or invalid file does not")
    func sourceConfirmation() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let setup = Setup(directory: directory, initial: Fixture.document())
            let freshness = setup.store.freshness
            #expect(freshness.confirmedAtMillis == nil)
            _ = try await setup.updater.reloadFromFile(reason: "test", force: true).get()
            #expect(freshness.confirmedAtMillis != nil)
            /// Backdates the last confirmation, looks at the file, and says whether it confirmed.
            func looksConfirm() async -> Bool {
                freshness.confirm(atMillis: 1)
                await setup.updater.reloadFromFile(reason: "test")
                return freshness.confirmedAtMillis != 1
            }
            #expect(await looksConfirm(), "an unchanged look at a valid file")
            Fixture.write(Array("{\"vaults\": 3}".utf8), to: setup.path)
            #expect(!(await looksConfirm()), "the look that found the file invalid")
            #expect(!(await looksConfirm()), "a later look at the same invalid file")
            #expect(unlink(setup.path) == 0)
            #expect(!(await looksConfirm()), "a look that found no file")
            Fixture.write(Fixture.document(), to: setup.path)
            #expect(await looksConfirm(), "the serving document back in the file")
            #expect(setup.store.serving?.revision.sequence == 1)
        }
    }

    @Test("a missing or invalid file leaves the daemon not ready, then keeps the serving revision")
    func invalidFile() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let setup = Setup(directory: directory, initial: nil)
            await #expect(throws: StatusError.self) {
                try await setup.updater.reloadFromFile(reason: "test", force: true).get()
            }
            #expect(setup.store.serving == nil)
            #expect(await setup.updater.status().notReadyReason?.contains("rules.json") == true)

            Fixture.write(Fixture.document(), to: setup.path)
            _ = try await setup.updater.reloadFromFile(reason: "test").get()
            let serving = try #require(setup.store.serving)

            Fixture.write(Array("{\"vaults\": 3}".utf8), to: setup.path)
            let error = await #expect(throws: StatusError.self) {
                try await setup.updater.reloadFromFile(reason: "test").get()
            }
            #expect(error?.details.map(\.path) == ["vaults"])
            #expect(setup.store.serving === serving)
            let status = await setup.updater.status()
            #expect(status.reloadFailures == 2)
            #expect(status.lastReloadError != nil)
        }
    }

    @Test("a pushed document is written to the file before it serves; invalid and dry-run pushes change nothing")
    func put() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let setup = Setup(directory: directory, initial: Fixture.document())
            _ = try await setup.updater.reloadFromFile(reason: "test", force: true).get()
            let pushed = Fixture.document(ipRules: ["198.51.100.0/24"])

            let dry = try await setup.updater.put(pushed, expectedRevision: nil, dryRun: true)
            #expect(dry.changed && dry.revision.hash == RevisionHash.of(pushed))
            #expect(Fixture.read(setup.path) == Fixture.document())
            #expect(setup.store.serving?.revision.sequence == 1)

            let invalid = await #expect(throws: StatusError.self) {
                try await setup.updater.put(
                    Fixture.document(ipRules: ["10.0.0.0/8"]),
                    expectedRevision: nil,
                    dryRun: false
                )
            }
            #expect(invalid?.code == .invalidArgument)
            #expect(invalid?.details.first?.message.contains("forbidden range") == true)
            #expect(Fixture.read(setup.path) == Fixture.document())

            let result = try await setup.updater.put(pushed, expectedRevision: nil, dryRun: false)
            #expect(result.revision == Revision(sequence: 2, hash: RevisionHash.of(pushed)))
            #expect(Fixture.read(setup.path) == pushed)
            #expect(setup.store.serving?.document == pushed)
        }
    }

    @Test("an expected revision that is not the current one is ABORTED")
    func expectedRevision() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let setup = Setup(directory: directory, initial: Fixture.document())
            let current = try await setup.updater.reloadFromFile(reason: "test", force: true).get().revision.hash
            let aborted = await #expect(throws: StatusError.self) {
                try await setup.updater.put(
                    Fixture.document(ipRules: []),
                    expectedRevision: "0000000000000000",
                    dryRun: false
                )
            }
            #expect(aborted?.code == .aborted)
            let accepted = try await setup.updater.put(
                Fixture.document(ipRules: []),
                expectedRevision: current.uppercased(),
                dryRun: false
            )
            #expect(accepted.changed)
        }
    }

    @Test("changes are written back with sorted keys; a change that changes nothing makes no revision")
    func apply() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let setup = Setup(directory: directory, initial: Fixture.document())
            _ = try await setup.updater.reloadFromFile(reason: "test", force: true).get()
            let added = try await setup.updater.apply(
                .addIpRule(vault: "contoso-prod", value: "198.51.100.7"),
                expectedRevision: nil,
                dryRun: false
            )
            #expect(added.changed && added.revision.sequence == 2)
            let written = try JSONValue(parsing: Fixture.read(setup.path))
            #expect(String(decoding: Fixture.read(setup.path), as: UTF8.self) == written.serialized(.document) + "\n")
            #expect(written["vaults"]?.arrayValue?[0]["properties"]?["networkAcls"]?["ipRules"]?.arrayValue?.count == 2)

            let again = try await setup.updater.apply(
                .addIpRule(vault: "contoso-prod", value: "198.51.100.7/32"),
                expectedRevision: nil,
                dryRun: false
            )
            #expect(!again.changed && again.revision.sequence == 2)

            let missing = await #expect(throws: StatusError.self) {
                try await setup.updater.apply(
                    .removeIpRule(vault: "contoso-prod", value: "192.0.2.1"),
                    expectedRevision: nil,
                    dryRun: false
                )
            }
            #expect(missing?.code == .notFound)
        }
    }

    @Test("rollback goes one revision further back each time, by hash to any kept one, and keeps five")
    func rollback() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let setup = Setup(directory: directory, initial: Fixture.document(ipRules: []))
            _ = try await setup.updater.reloadFromFile(reason: "test", force: true).get()
            var documents = [Fixture.document(ipRules: [])]
            for octet in 1...6 {
                let document = Fixture.document(ipRules: ["198.51.100.\(octet)"])
                _ = try await setup.updater.put(document, expectedRevision: nil, dryRun: false)
                documents.append(document)
            }
            // Seven documents accepted: the current one and five before it are kept.
            #expect(await setup.updater.status().history.count == RuleUpdater.keptRevisions)

            let first = try await setup.updater.rollback(to: nil)
            #expect(first.revision == Revision(sequence: 8, hash: RevisionHash.of(documents[5])))
            #expect(Fixture.read(setup.path) == documents[5])
            let second = try await setup.updater.rollback(to: nil)
            #expect(second.revision == Revision(sequence: 9, hash: RevisionHash.of(documents[4])))

            let named = try await setup.updater.rollback(to: RevisionHash.of(documents[6]))
            #expect(named.revision.hash == RevisionHash.of(documents[6]))
            #expect(setup.store.serving?.document == documents[6])

            let gone = await #expect(throws: StatusError.self) {
                try await setup.updater.rollback(to: RevisionHash.of(documents[0]))
            }
            #expect(gone?.code == .notFound)
        }
    }

    @Test("a read-only rules file refuses pushes with FAILED_PRECONDITION and keeps serving")
    func readOnly() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let setup = Setup(directory: directory, initial: Fixture.document())
            _ = try await setup.updater.reloadFromFile(reason: "test", force: true).get()
            chmod(setup.path, 0o444)
            let refused = await #expect(throws: StatusError.self) {
                try await setup.updater.put(Fixture.document(ipRules: []), expectedRevision: nil, dryRun: false)
            }
            #expect(refused?.code == .failedPrecondition)
            #expect(refused?.message.contains("read-only") == true)
            #expect(setup.store.serving?.revision.sequence == 1)
            #expect(Fixture.read(setup.path) == Fixture.document())
        }
    }

    @Test("a rules file behind a Kubernetes ConfigMap link is managed elsewhere")
    func configMap() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let data = directory + "/..2026_11_29_00_00_00.000000001"
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            Fixture.write(Fixture.document(), to: data + "/rules.json")
            try FileManager.default.createSymbolicLink(
                atPath: directory + "/..data",
                withDestinationPath: "..2026_11_29_00_00_00.000000001"
            )
            try FileManager.default.createSymbolicLink(
                atPath: directory + "/rules.json",
                withDestinationPath: "..data/rules.json"
            )
            let file = RulesFile(path: directory + "/rules.json")
            #expect(try file.read() == Fixture.document())
            #expect(file.writeRefusal()?.message.contains("ConfigMap") == true)
        }
    }

    @Test("a control change builds on an edit of the file that was not reported yet; GetDocument shows the file")
    func catchesUpWithFile() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let setup = Setup(directory: directory, initial: Fixture.document())
            _ = try await setup.updater.reloadFromFile(reason: "test", force: true).get()
            let edited = Fixture.document(ipRules: ["198.51.100.0/24"])
            Fixture.write(edited, to: setup.path)
            #expect(try await setup.updater.document(vault: nil).0 == edited)

            let pushed = Fixture.document(ipRules: ["192.0.2.0/24"])
            let result = try await setup.updater.put(pushed, expectedRevision: RevisionHash.of(edited), dryRun: false)
            #expect(result.revision.sequence == 3)
            let back = try await setup.updater.rollback(to: nil)
            #expect(back.revision.hash == RevisionHash.of(edited))
            #expect(Fixture.read(setup.path) == edited)
        }
    }

    @Test(
        "a missing file is one reload failure, not one per look; pushing the serving document restores a deleted file"
    )
    func missingFile() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let setup = Setup(directory: directory, initial: nil)
            let missing = await #expect(throws: StatusError.self) {
                try await setup.updater.reloadFromFile(reason: "test").get()
            }
            #expect(missing?.code == .notFound)
            for _ in 0..<3 { _ = await setup.updater.reloadFromFile(reason: "test") }
            #expect(await setup.updater.status().reloadFailures == 1)

            let document = Fixture.document()
            _ = try await setup.updater.put(document, expectedRevision: nil, dryRun: false)
            try FileManager.default.removeItem(atPath: setup.path)
            let restored = try await setup.updater.put(document, expectedRevision: nil, dryRun: false)
            #expect(!restored.changed && restored.summary.contains("rules file restored"))
            #expect(Fixture.read(setup.path) == document)
            #expect(setup.store.serving?.revision.sequence == 1)
        }
    }

    // MARK: - Write-back: ownership, mode, fingerprint, failures (hardening review L4, L5, statuses)

    /// The owner, group and mode of a file.
    static func owner(_ path: String) -> (uid: uid_t, gid: gid_t, mode: mode_t)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (info.st_uid, info.st_gid, info.st_mode & 0o7777)
    }

    /// Names in `directory` (to see that no temporary or backup file is left behind).
    static func entries(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    @Test(
        "write-back keeps the rules file's owner, group and mode",
        .enabled(if: getuid() == 0, "needs root to give the rules file another owner")
    )
    func keepsOwnership() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let setup = Setup(directory: directory, initial: Fixture.document())
            #expect(chown(setup.path, 1234, 5678) == 0 && chmod(setup.path, 0o604) == 0)
            _ = try await setup.updater.reloadFromFile(reason: "test", force: true).get()
            _ = try await setup.updater.put(Fixture.document(ipRules: []), expectedRevision: nil, dryRun: false)
            #expect(Fixture.read(setup.path) == Fixture.document(ipRules: []))
            let after = try #require(Self.owner(setup.path))
            #expect(after.uid == 1234 && after.gid == 5678 && after.mode == 0o604)
            #expect(Self.entries(directory) == ["rules.json"])
        }
    }

    @Test("a rules file created by a write-back is 0640 whatever the umask")
    func newFileMode() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let setup = Setup(directory: directory, initial: nil)
            let previous = umask(0)
            defer { umask(previous) }
            _ = try await setup.updater.put(Fixture.document(), expectedRevision: nil, dryRun: false)
            #expect(Self.owner(setup.path)?.mode == 0o640)
        }
    }

    @Test("an edit that lands right after a write-back is still reloaded (the fingerprint is of what was written)")
    func fingerprintOfWrittenFile() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let path = directory + "/rules.json"
            let edited = Fixture.document(ipRules: ["192.0.2.0/24"])
            // Another writer replaces the file between the rename and the end of the write-back
            // (while the directory is synced).
            let calls = RulesFile.SystemCalls(fsync: { fd in
                if Self.isDirectory(fd) && Fixture.read(path) != edited {
                    Fixture.write(edited, to: path + ".editor")
                    rename(path + ".editor", path)
                }
                return Glibc.fsync(fd)
            })
            let setup = Setup(directory: directory, initial: Fixture.document(), calls: calls)
            _ = try await setup.updater.reloadFromFile(reason: "test", force: true).get()
            _ = try await setup.updater.put(Fixture.document(ipRules: []), expectedRevision: nil, dryRun: false)
            let reload = try await setup.updater.reloadFromFile(reason: "file changed").get()
            #expect(reload.changed)
            #expect(setup.store.serving?.document == edited)
        }
    }

    @Test(
        "a full file system answers RESOURCE_EXHAUSTED with the errno text, and nothing changes",
        .enabled(if: FullFileSystem.isAvailable, "needs to mount a tmpfs (root, and a kernel that lets it)")
    )
    func noSpace() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            try await FullFileSystem.withRoomForOneSmallFile(at: directory + "/full") { mount in
                let setup = Setup(directory: mount, initial: nil)
                Fixture.write(Fixture.document(), to: setup.path)
                _ = try await setup.updater.reloadFromFile(reason: "test", force: true).get()
                let serving = try #require(setup.store.serving)
                let before = Self.entries(mount)
                let refused = await #expect(throws: StatusError.self) {
                    try await setup.updater.put(
                        Fixture.document(ipRules: (1...200).map { "198.51.100.\($0)" }),
                        expectedRevision: nil,
                        dryRun: false
                    )
                }
                #expect(refused?.code == .resourceExhausted)
                #expect(refused?.message.contains("No space left on device") == true)
                #expect(setup.store.serving === serving)
                #expect(Fixture.read(setup.path) == Fixture.document())
                #expect(Self.entries(mount) == before)
            }
        }
    }

    /// EIO cannot be provoked on a real file system here (no device mapper in the test
    /// environment), so these fail the calls at the system-call boundary (`RulesFile.SystemCalls`).
    static func failing(_ call: String) -> RulesFile.SystemCalls {
        var calls = RulesFile.SystemCalls()
        switch call {
        case "fsync": calls.fsync = { isDirectory($0) ? Glibc.fsync($0) : failWithEIO() }
        case "close":
            calls.close = {
                Glibc.close($0)
                return failWithEIO()
            }
        default: calls.fsync = { isDirectory($0) ? failWithEIO() : Glibc.fsync($0) }
        }
        return calls
    }

    static func isDirectory(_ fd: Int32) -> Bool {
        var info = stat()
        return fstat(fd, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    static func failWithEIO() -> Int32 {
        errno = EIO
        return -1
    }

    @Test(
        "an I/O error while writing back answers UNAVAILABLE with the errno text, and nothing changes",
        arguments: ["fsync", "close", "directory fsync"]
    )
    func ioError(_ call: String) async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let setup = Setup(directory: directory, initial: Fixture.document(), calls: Self.failing(call))
            chmod(setup.path, 0o600)
            _ = try await setup.updater.reloadFromFile(reason: "test", force: true).get()
            let serving = try #require(setup.store.serving)
            let refused = await #expect(throws: StatusError.self) {
                try await setup.updater.put(Fixture.document(ipRules: []), expectedRevision: nil, dryRun: false)
            }
            #expect(refused?.code == .unavailable)
            #expect(refused?.message.contains("Input/output error") == true, "\(refused?.message ?? "")")
            #expect(setup.store.serving === serving)
            #expect(Fixture.read(setup.path) == Fixture.document())
            #expect(Self.owner(setup.path)?.mode == 0o600)
            #expect(Self.entries(directory) == ["rules.json"])
            // The next look finds nothing new: the file is the serving document.
            #expect(try await !setup.updater.reloadFromFile(reason: "file changed").get().changed)
        }
    }
}
