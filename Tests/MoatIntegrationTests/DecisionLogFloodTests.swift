import Foundation
import MoatClient
import MoatCore
import MoatWire
import NIOCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension MoatdIntegrationTests {
    /// M3 of the hardening review: a deny flood cannot grow the decision log or the daemon without
    /// bound, nor crowd out other peers' records; SIGUSR1 reopens the file for logrotate.
    @Suite("Decision log under load")
    struct DecisionLogFlood {
        /// The uid the other peer's checks run as (root only: `setpriv`).
        static let otherUID = 4321

        /// The JSON lines of the files at `paths` that exist, in order.
        static func lines(_ sandbox: Sandbox, _ paths: [String]) throws -> [JSONValue] {
            try paths.filter(exists).flatMap { path in
                try String(decoding: sandbox.read(path), as: UTF8.self).split(separator: "\n").map {
                    try JSONValue(parsing: Array($0.utf8))
                }
            }
        }

        /// A metric's value in the daemon's exposition, 0 when absent.
        static func metric(_ daemon: DaemonProcess, _ series: String) async throws -> Int {
            let text = try await daemon.control { try await $0.metrics() }
            let line = text.split(separator: "\n").first { $0.hasPrefix(series + " ") }
            return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
        }

        /// One frame of 1024 junk requests (unknown vault: each a 404 deny, each logged), with
        /// long distinct request ids.
        static func junkBatch(_ round: Int) throws -> [UInt8] {
            let junk = String(repeating: "j", count: 900)
            let requests = (0..<CheckBatchRequest.maximumCount).map { index in
                CheckRequest(
                    vault: "junk-vault-\(round)",
                    operation: .getSecret,
                    sourceAddress: "203.0.113.9",
                    requestId: "junk-\(round)-\(index)-\(junk)"
                )
            }
            var buffer = ByteBuffer()
            try CheckBatchRequest(requests: requests).encode(into: &buffer)
            return RawFrame.bytes(
                streamID: UInt32(round + 1),
                method: MethodID.checkBatch.rawValue,
                payload: Array(buffer.readableBytesView)
            )
        }

        @Test(
            "a deny flood from one uid keeps the log files under their cap and the daemon's memory bounded; another peer's denies are logged and the drops summarized",
            loadSizedForTheOrdinaryBuild
        )
        func denyFlood() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let logPath = sandbox.file("audit.log")
                let cap = 4 << 20
                let asRoot = getuid() == 0
                if asRoot {
                    // The other peer must reach the socket: SO_PEERCRED is what tells them apart.
                    chmod(sandbox.path, 0o755)
                }
                let daemon = try await sandbox.startDaemon(
                    arguments: [
                        "--decision-log", logPath, "--decision-log-max-bytes", "\(cap)",
                        "--decision-log-queue-bytes", "\(256 << 10)", "--max-frame-bytes", "\(2 << 20)",
                        "--socket-mode", "0666",
                    ]
                )
                // Warm up (connections, first decisions), then take the baseline.
                let warmup = try await RawConnection.connect(daemon.socket)
                try await warmup.send(Self.junkBatch(0))
                #expect(try await warmup.readFrame(timeout: .seconds(60)).status == 0)
                let baseline = try #require(daemon.residentBytes())

                let progress = LoadProgress()
                let peak = ResidentPeak(baseline)
                let rounds = 48
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for connection in 0..<2 {
                        group.addTask {
                            let raw = try await RawConnection.connect(daemon.socket)
                            for round in stride(from: 1 + connection, through: rounds, by: 2) {
                                if progress.stopped { break }
                                try await raw.send(Self.junkBatch(round))
                                let answer = try await raw.readFrame(timeout: .seconds(120))
                                #expect(answer.status == 0, "\(answer)")
                                progress.add(CheckBatchRequest.maximumCount)
                            }
                        }
                    }
                    group.addTask {
                        while !progress.stopped {
                            if let resident = daemon.residentBytes() { peak.bytes.max(resident, ordering: .relaxed) }
                            try await Task.sleep(for: .milliseconds(20))
                        }
                    }
                    // Halfway through, another peer's denies (root only: another uid needs setpriv).
                    try await progress.waitFor(rounds / 2 * CheckBatchRequest.maximumCount, timeout: .seconds(300))
                    if asRoot {
                        for index in 0..<3 {
                            let check = try await sandbox.run(
                                "/usr/bin/setpriv",
                                [
                                    "--reuid=\(Self.otherUID)", "--regid=\(Self.otherUID)", "--clear-groups",
                                    moatctlPath,
                                    "check", "--socket", daemon.socket, "--vault", "real-vault", "--operation",
                                    "GetSecret", "--source", "198.51.100.7", "--request-id", "real-deny-\(index)",
                                ]
                            )
                            #expect(check.status == 0 && check.stdout.contains("VaultNotFound"), "\(check)")
                        }
                    }
                    progress.finish()
                    try await group.waitForAll()
                }
                let flooded = progress.count
                let submitted = flooded + CheckBatchRequest.maximumCount + (asRoot ? 3 : 0)
                var (written, dropped) = (0, 0)
                try await eventually(
                    "every record to be written or dropped (\(written) + \(dropped))",
                    timeout: .seconds(120)
                ) {
                    written = try await Self.metric(daemon, "moat_decision_log_written_total")
                    dropped = try await Self.metric(daemon, "moat_decision_log_dropped_total")
                    return written + dropped == submitted
                }
                let peakResident = peak.bytes.load(ordering: .relaxed)
                #expect(await daemon.stop() == .exit(0))
                // Every drop counted against its uid, and reported in the daemon's log.

                let files = [logPath + ".1", logPath]
                let sizes = files.map { (try? sandbox.read($0))?.count ?? 0 }
                // The flood offered far more than both files may hold.
                #expect(flooded * 900 > 4 * cap, "flooded \(flooded)")
                #expect(sizes.allSatisfy { $0 <= cap }, "sizes \(sizes)")
                let lines = try Self.lines(sandbox, files)
                #expect(lines.allSatisfy { $0["time"] != nil })
                #expect(
                    lines.filter { $0["event"] == nil }.allSatisfy {
                        ($0["correlationId"]?.stringValue?.utf8.count ?? 0) <= 256
                    }
                )
                // Memory: the queue holds at most its 256 KiB; what the flood costs besides is
                // the connections' buffers.
                expectResidentGrowth(
                    peakResident - baseline,
                    below: 96 << 20,
                    "baseline \(baseline), peak \(peakResident)"
                )
                // Drops: every one counted, per uid, and each reported in the daemon's log.
                #expect(dropped > 0, "the flood dropped nothing: it did not test the bound")
                let reported = daemon.stderr().split(separator: "\n").compactMap { line -> Int? in
                    guard let range = line.range(of: "decision log: dropped ") else { return nil }
                    let rest = line[range.upperBound...]
                    guard rest.hasSuffix("records from uid \(getuid())") else { return nil }
                    return Int(rest.prefix { $0.isNumber })
                }
                #expect(reported.reduce(0, +) == dropped, "reported \(reported), dropped \(dropped)")
                if asRoot {
                    let real = lines.filter { $0["correlationId"]?.stringValue?.hasPrefix("real-deny-") == true }
                    #expect(real.count == 3, "another peer's denies were crowded out")
                    #expect(real.allSatisfy { $0["peer"]?["uid"] == .number(String(Self.otherUID)) })
                }
            }
        }

        @Test(
            "decision log sizes under 64 KiB are usage errors naming the flag",
            arguments: [("--decision-log-max-bytes", "1000"), ("--decision-log-queue-bytes", "0")]
        )
        func sizesValidated(_ flag: String, _ value: String) async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let refused = try await sandbox.runFailingDaemon(
                    socket: sandbox.socketPath,
                    controlSocket: sandbox.controlSocketPath,
                    arguments: [flag, value]
                )
                #expect(refused.status == 64 && refused.stderr.contains("\(flag) must be"), "\(refused)")
            }
        }

        @Test("SIGUSR1 after the log was moved away makes the daemon write a new file at the path")
        func reopenOnSIGUSR1() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let logPath = sandbox.file("audit.log")
                let daemon = try await sandbox.startDaemon(arguments: ["--decision-log", logPath])
                func deny(_ id: String) async throws {
                    var request = TestDocuments.aliceGetsSecret()
                    request.vault = "no-such-vault"
                    request.requestId = id
                    try await daemon.withClient { client in
                        #expect(await client.check(request).decision?.code == .vaultNotFound)
                    }
                }
                try await deny("before")
                try await eventually("the first record to be written") {
                    (try? sandbox.read(logPath))?.isEmpty == false
                }
                #expect(rename(logPath, logPath + ".moved") == 0)
                try await eventually("moatd to handle SIGUSR1") { daemon.child.handles(SIGUSR1) }
                daemon.send(SIGUSR1)
                try await eventually("moatd to reopen the log") { daemon.stderr().contains("decision log reopened") }
                try await deny("after")
                #expect(await daemon.stop() == .exit(0))
                #expect(daemon.stderr().contains("decision log reopened"))
                let moved = try Self.lines(sandbox, [logPath + ".moved"]).map { $0["correlationId"]?.stringValue }
                let reopened = try Self.lines(sandbox, [logPath]).map { $0["correlationId"]?.stringValue }
                #expect(moved == ["before"] && reopened == ["after"], "moved \(moved), reopened \(reopened)")
            }
        }
    }
}

/// The largest resident size seen while a load runs.
final class ResidentPeak: Sendable {
    let bytes: Atomic<Int>

    init(_ baseline: Int) {
        bytes = Atomic(baseline)
    }
}
