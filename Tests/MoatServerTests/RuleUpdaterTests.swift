import Foundation
import MoatCore
import MoatIdentity
import MoatWire
import Testing

@testable import MoatServer

@Suite("Rule updates: revisions, write-back, rollback")
struct RuleUpdaterTests {
    struct Setup {
        let path: String
        let store = RuleStore()
        let updater: RuleUpdater

        init(directory: String, initial: [UInt8]?) {
            path = directory + "/rules.json"
            if let initial { Fixture.write(initial, to: path) }
            updater = RuleUpdater(
                file: RulesFile(path: path),
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
}
