import Foundation
import MoatClient
import MoatCore
import MoatWire
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension MoatdIntegrationTests {
    /// Rule changes while clients check continuously (README.md, "Running moatd": the swap is
    /// one atomic store; checks never fail because of a reload).
    @Suite("Hot reload under load")
    struct HotReload {
        /// What one client task saw.
        struct Tally: Sendable {
            var checks = 0
            var undecided: [String] = []
            var wrongDecision: [String] = []
            var unknownRevision: [String] = []
            var backwards: [String] = []
            var hashesSeen: Set<String> = []
            var lastSequence: UInt64 = 0

            mutating func record(_ result: CheckResult, allowing: String, denying: String) {
                checks += 1
                guard let decision = result.decision else {
                    if undecided.count < 10 { undecided.append(result.summary) }
                    return
                }
                let revision = decision.revision
                hashesSeen.insert(revision.hash)
                if revision.hash != allowing && revision.hash != denying {
                    unknownRevision.append("\(revision)")
                } else if (decision.outcome == .allow) != (revision.hash == allowing) {
                    wrongDecision.append("\(result.summary)")
                }
                if revision.sequence < lastSequence {
                    backwards.append("\(lastSequence) then \(revision.sequence)")
                }
                lastSequence = max(lastSequence, revision.sequence)
            }
        }

        @Test("file rewrites, pushes and SIGHUP under load: no failed check, every answer matches its revision")
        func reloadUnderLoad() async throws {
            let allowing = TestDocuments.allowing
            let denying = TestDocuments.denying
            let hashA = TestDocuments.hash(allowing)
            let hashB = TestDocuments.hash(denying)
            try #require(hashA != hashB)

            try await withSandbox { sandbox in
                try sandbox.write(allowing, to: sandbox.rulesPath)
                let denyingFile = sandbox.file("denying.json")
                try sandbox.write(denying, to: denyingFile)
                let daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments)
                try await daemon.waitUntilServing(hash: hashA)

                let progress = LoadProgress()
                let request = TestDocuments.aliceGetsSecret()
                let socket = daemon.socket
                let clients = 4
                let rounds = 5

                /// Lets the clients make 200 more checks, so that every revision is really checked
                /// against and the clients are mid-flight at each swap.
                func letClientsRun() async throws { try await progress.waitFor(200) }

                let tallies = try await withThrowingTaskGroup(of: Tally.self) { group in
                    for index in 0..<clients {
                        group.addTask {
                            var tally = Tally()
                            await withMoatClient(
                                socketPath: socket,
                                configuration: .integrationTests(connections: 1 + index % 2)
                            ) { client in
                                while !progress.stopped {
                                    if index == 0 {
                                        // One client checks in batches: a batch is decided on one revision.
                                        for result in await client.checkBatch(Array(repeating: request, count: 16)) {
                                            tally.record(result, allowing: hashA, denying: hashB)
                                        }
                                        progress.add(16)
                                    } else {
                                        tally.record(await client.check(request), allowing: hashA, denying: hashB)
                                        progress.add()
                                    }
                                }
                            }
                            return tally
                        }
                    }
                    do {
                        try await letClientsRun()
                        for _ in 0..<rounds {
                            // 1. An atomic rewrite of the rules file (temp + rename), seen by the watcher.
                            try sandbox.writeAtomically(denying, to: daemon.rules)
                            try await daemon.waitUntilServing(hash: hashB)
                            try await letClientsRun()
                            // 2. PutDocument through the control client.
                            let put = try await daemon.control { try await $0.putDocument(allowing) }
                            #expect(put.changed && put.revision.hash == hashA)
                            try await letClientsRun()
                            // 3. moatctl push.
                            let push = try await sandbox.moatctl(
                                "push",
                                "--control-socket",
                                daemon.controlSocket,
                                denyingFile
                            )
                            #expect(push.status == 0, "\(push)")
                            #expect(try await daemon.status().revision?.hash == hashB)
                            try await letClientsRun()
                            // 4. A rewrite of the rules file and SIGHUP.
                            try sandbox.writeAtomically(allowing, to: daemon.rules)
                            daemon.send(SIGHUP)
                            try await daemon.waitUntilServing(hash: hashA)
                            try await letClientsRun()
                        }
                    } catch {
                        progress.finish()
                        throw error
                    }
                    progress.finish()
                    return try await group.reduce(into: []) { $0.append($1) }
                }

                let total = tallies.reduce(0) { $0 + $1.checks }
                print("hot reload: \(total) checks by \(clients) clients across \(1 + rounds * 4) revisions")
                #expect(total >= rounds * 4 * 200)
                for (index, tally) in tallies.enumerated() {
                    #expect(tally.checks > 0, "client \(index) made no check")
                    #expect(
                        tally.undecided.isEmpty,
                        "client \(index): \(tally.undecided.count)+ checks not decided: \(tally.undecided)"
                    )
                    #expect(
                        tally.wrongDecision.isEmpty,
                        "client \(index): decisions that do not match their revision: \(tally.wrongDecision.prefix(10))"
                    )
                    #expect(
                        tally.unknownRevision.isEmpty,
                        "client \(index): answers from unknown revisions: \(tally.unknownRevision.prefix(10))"
                    )
                    #expect(
                        tally.backwards.isEmpty,
                        "client \(index): the revision sequence went backwards: \(tally.backwards.prefix(10))"
                    )
                }
                #expect(tallies.reduce(into: Set<String>()) { $0.formUnion($1.hashesSeen) } == [hashA, hashB])

                // Each of the 4 × 4 changes made exactly one revision: a write-back seen by the
                // watcher, or a file reloaded by both inotify and SIGHUP, is not a new one.
                let status = try await daemon.status()
                #expect(status.revision == Revision(sequence: UInt64(1 + rounds * 4), hash: hashA))
                #expect(try sandbox.read(daemon.rules) == allowing)
                #expect(await daemon.stop() == .exit(0))
            }
        }
    }
}
