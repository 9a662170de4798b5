import Foundation
import MoatClient
import MoatCore
import MoatTestSupport
import MoatWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension MoatdIntegrationTests {
    /// SIGKILL while a large push is in flight (docs/rules.md, "Write-back": the write-back is temp file, fsync,
    /// rename, fsync of the directory, so a crash leaves the old or the new document, never a torn
    /// one; a restart finds what was last accepted).
    @Suite("kill -9 during a push")
    struct CrashDuringPush {
        static let ipRules = 50_000
        static let rounds = 6

        @Test("the rules file is always the old or the new document, and a restart serves it")
        func killDuringPush() async throws {
            let variants = (0...Self.rounds + 1).map {
                TestDocuments.large(ipRules: Self.ipRules, tag: "variant-\($0)")
            }
            let hashes = variants.map(TestDocuments.hash)
            try #require(Set(hashes).count == variants.count)

            try await withSandbox { sandbox in
                try sandbox.write(variants[0], to: sandbox.rulesPath)
                var daemon = try await sandbox.startDaemon()
                try await daemon.waitUntilServing(hash: hashes[0])

                // Round 0, not killed: how long a push of this document takes here, to spread the
                // kills over it (before the document is in, during validation, around the write).
                let first = sandbox.file("push-1.json")
                try sandbox.write(variants[1], to: first)
                let started = ContinuousClock.now
                let calibration = try await sandbox.moatctl("push", "--control-socket", daemon.controlSocket, first)
                let pushDuration = ContinuousClock.now - started
                #expect(calibration.status == 0, "\(calibration)")
                #expect(try sandbox.read(daemon.rules) == variants[1])

                var outcomes: [String] = []
                var random = SplitMix64(seed: 0x6b69_6c6c)
                for round in 1...Self.rounds {
                    let old = variants[round]
                    let new = variants[round + 1]
                    let input = sandbox.file("push-\(round + 1).json")
                    try sandbox.write(new, to: input)

                    let push = try sandbox.spawn(
                        moatctlPath,
                        ["push", "--control-socket", daemon.controlSocket, input]
                    )
                    let when: String
                    if round % 2 == 1 {
                        // At a random moment of the push.
                        let delay = pushDuration * Double.random(in: 0.2...1.5, using: &random)
                        try await Task.sleep(for: delay)
                        when = "after \(delay)"
                    } else {
                        // In the middle of the write-back: as soon as its temporary file appears.
                        let temporary = sandbox.file(".rules.json.moat-\(daemon.pid).tmp")
                        let seen = try await offload {
                            let deadline = ContinuousClock.now + .seconds(60)
                            while ContinuousClock.now < deadline && push.isRunning {
                                if exists(temporary) { return true }
                                usleep(100)
                            }
                            return false
                        }
                        when = seen ? "while writing" : "after the push"
                    }
                    #expect(await daemon.killHard() == .signal(SIGKILL))

                    let pushEnd = await push.waitForExit(timeout: .seconds(30))
                    if pushEnd == nil { await push.killHard() }
                    let onDisk = try sandbox.read(daemon.rules)
                    let onDiskHash = TestDocuments.hash(onDisk)
                    #expect(
                        onDiskHash == hashes[round] || onDiskHash == hashes[round + 1],
                        "round \(round): the rules file is neither the old nor the new document (\(onDisk.count) bytes)"
                    )
                    // moatctl either got its answer (then the document was on disk before it) or
                    // saw the daemon die (exit 3).
                    switch pushEnd {
                    case .exit(0)?:
                        #expect(
                            onDisk == new,
                            "round \(round): push reported success but the file is not the new document"
                        )
                    case .exit(3)?:
                        break
                    default:
                        // No exit within 30 s of the daemon's death: the client hung (see ClientRefusals).
                        Issue.record(
                            "round \(round): moatctl push ended with \(pushEnd.map { "\($0)" } ?? "no exit within 30 s"): \(push.stderr())"
                        )
                    }
                    outcomes.append(
                        "\(when): \(onDisk == old ? "old" : onDisk == new ? "new" : "torn"), moatctl \(pushEnd.map { "\($0)" } ?? "?")"
                    )

                    // The killed daemon left its socket files behind; a new one on the same
                    // paths replaces them and serves what the file holds.
                    #expect(isSocket(daemon.socket) && isSocket(daemon.controlSocket))
                    daemon = try await sandbox.startDaemon()
                    let status = try await daemon.status()
                    #expect(status.ready)
                    #expect(
                        status.revision?.hash == onDiskHash,
                        "round \(round): after the restart the daemon serves \(status.revision.map { "\($0)" } ?? "nothing"), the file is \(onDiskHash)"
                    )
                    let leftovers = try FileManager.default.contentsOfDirectory(atPath: sandbox.path).filter {
                        $0.contains(".moat-")
                    }
                    #expect(leftovers.isEmpty, "temporary files left next to the rules file: \(leftovers)")

                    // Keep the sequence going from whatever the file holds.
                    if onDisk == old {
                        let catchUp = try await daemon.control { try await $0.putDocument(new) }
                        #expect(catchUp.revision.hash == hashes[round + 1])
                    }
                }
                print(
                    "kill -9 during push (\(Self.ipRules) IP rules, \(variants[0].count) bytes, push \(pushDuration)):\n  "
                        + outcomes.joined(separator: "\n  ")
                )
                #expect(
                    outcomes.contains { $0.hasPrefix("while writing") },
                    "no kill landed inside the write-back: \(outcomes)"
                )
                #expect(await daemon.stop() == .exit(0))
            }
        }
    }
}
