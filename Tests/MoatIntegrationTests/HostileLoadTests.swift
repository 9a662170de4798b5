import Foundation
import MoatClient
import MoatCore
import MoatSockets
import MoatWire
import NIOCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension MoatdIntegrationTests {
    /// Hostile load against the real daemon (docs/protocol.md "Limits"): clients that never read,
    /// descriptor exhaustion, slow-loris, connection churn. Each scenario is bounded in count and
    /// time and stops by itself; each asserts what stays bounded (resident memory, descriptors,
    /// CPU over a window, connections closed) and that a well-behaved client's checks are all
    /// answered before their deadline. No latency figures: those are benchmarks.
    @Suite("Hostile load", loadSizedForTheOrdinaryBuild)
    struct HostileLoad {
        static let request = TestDocuments.aliceGetsSecret()

        /// A CheckBatch of 1024 empty requests: 2 KiB in, about 130 KB of answers out.
        static let amplifyingBatch: [UInt8] = {
            var buffer = ByteBuffer()
            try! CheckBatchRequest(requests: Array(repeating: CheckRequest(), count: 1024)).encode(into: &buffer)
            return RawFrame.bytes(
                streamID: 9,
                method: MethodID.checkBatch.rawValue,
                payload: Array(buffer.readableBytesView)
            )
        }()

        /// `count` checks by a well-behaved client; every one must be decided.
        static func expectAnswered(_ daemon: DaemonProcess, count: Int = 100) async throws {
            let undecided = try await daemon.withClient { client in
                var undecided: [String] = []
                for _ in 0..<count {
                    let result = await client.check(request)
                    if case .couldNotDecide = result.outcome { undecided.append(result.summary) }
                }
                return undecided
            }
            #expect(undecided.isEmpty, "\(undecided.count) of \(count) checks not decided: \(undecided.prefix(3))")
        }

        /// The daemon's metrics count at least `count` refusals for `reason` (a client retrying
        /// while a slot frees may be refused once more).
        static func expectRefusals(_ daemon: DaemonProcess, _ reason: String, atLeast count: Int) async throws {
            let metrics = try await daemon.control { try await $0.metrics() }
            let prefix = "moat_refusals_total{reason=\"\(reason)\"} "
            let counted = metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap {
                Int($0.dropFirst(prefix.count))
            }
            #expect((counted ?? 0) >= count, "\(reason): \(String(describing: counted))")
        }

        static func megabytes(_ bytes: Int) -> String { "\(bytes / (1 << 20)) MiB" }

        @Test("M1: clients flooding big batches and never reading pin bounded memory; others are answered")
        func nonReadingClients() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments)
                try await Self.expectAnswered(daemon, count: 20)
                let baseline = try #require(daemon.residentBytes())
                let flooders = try await LoadSockets.open(daemon.socket, count: 32)
                defer { flooders.closeAll() }
                // First as a busy, well-behaved client (answers read), so that the daemon reads
                // these connections 64 KiB at a time; then they stop reading.
                try await flooders.exchange(
                    Array(Array(repeating: Self.amplifyingBatch, count: 20).joined()),
                    frames: 20
                )
                // Each sends batches until the daemon stops taking them (its socket stays full),
                // at most 8 MiB each: before the fix each one pinned about 7 MB of answers.
                // 128 batches per send: the daemon finds 256 KiB waiting, as when a client writes
                // faster than the daemon reads.
                let burst = Array(Array(repeating: Self.amplifyingBatch, count: 128).joined())
                let sent = try await flooders.flood(burst, limit: 8 << 20)
                #expect(
                    sent > 32 * 8 * Self.amplifyingBatch.count,
                    "the flood itself did not happen: \(sent) bytes sent"
                )
                // A well-behaved client meanwhile; then the most the daemon held, flooders still open.
                try await Self.expectAnswered(daemon)
                let held = try #require(daemon.residentBytes())
                expectResidentGrowth(
                    held - baseline,
                    below: 64 << 20,
                    "32 non-reading clients grew the daemon from \(Self.megabytes(baseline)) to \(Self.megabytes(held))"
                )
                #expect(daemon.isRunning)
            }
        }

        static let needsPrlimit = ConditionTrait.enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit"),
            "needs prlimit (util-linux)"
        )

        /// `moatd` under `prlimit --nofile=LIMIT`.
        static func startLimited(
            _ sandbox: Sandbox,
            limit: Int,
            arguments: [String]
        ) throws -> DaemonProcess {
            let child = try sandbox.spawn(
                "/usr/bin/prlimit",
                [
                    "--nofile=\(limit):\(limit)", "--", moatdPath, "--rules", sandbox.rulesPath, "--socket",
                    sandbox.socketPath, "--control-socket", sandbox.controlSocketPath, "--decision-log",
                    sandbox.file("decisions.log"),
                ] + TestDocuments.asserterArguments + arguments,
                name: "moatd"
            )
            return DaemonProcess(
                child: child,
                socket: sandbox.socketPath,
                controlSocket: sandbox.controlSocketPath,
                rules: sandbox.rulesPath
            )
        }

        @Test(
            "M4: with 64 descriptors, more idle connections than fit are refused, the loop does not spin, and a client gets in once some close",
            needsPrlimit
        )
        func descriptorExhaustion() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try Self.startLimited(
                    sandbox,
                    limit: 64,
                    arguments: ["--max-connections-per-uid", "1000", "--max-control-connections", "4"]
                )
                try await daemon.waitUntilListening()
                #expect(daemon.stderr().contains("--max-connections lowered from 4096 to"), "\(daemon.stderr())")
                // 60 idle connections, each asking one Ping: admitted ones answer, the others are
                // refused UNAVAILABLE on stream 0 (instead of accept failing with EMFILE).
                var admitted: [RawConnection] = []
                var refused = 0
                for streamID in UInt32(1)...60 {
                    let raw = try await RawConnection.connect(daemon.socket)
                    try? await raw.send(RawFrame.ping(streamID: streamID))
                    let answer = try await raw.readFrame()
                    if answer.streamID == streamID && answer.status == 0 {
                        admitted.append(raw)
                    } else {
                        #expect(answer.streamID == 0 && answer.statusName == "UNAVAILABLE", "\(answer)")
                        refused += 1
                    }
                }
                #expect(!admitted.isEmpty && refused > 0, "admitted \(admitted.count), refused \(refused)")
                // Idle with every slot taken: the daemon's CPU time over 4 s stays far below the
                // 4 s a spinning event loop would use.
                let before = try #require(LoadSockets.cpuSeconds(daemon.pid))
                try await Task.sleep(for: .seconds(4))
                let after = try #require(LoadSockets.cpuSeconds(daemon.pid))
                #expect(after - before < 1.5, "the daemon used \(after - before) s of CPU in 4 s while idle")
                #expect(LoadSockets.descriptors(daemon.pid) ?? 0 <= 64)
                // Some close; a well-behaved client gets in and is answered.
                for raw in admitted.suffix(4) { raw.shutdown() }
                admitted.removeLast(4)
                // Once the daemon has counted them closed (moat_connections): until then it may
                // still find every slot taken.
                let prefix = #"moat_connections{socket="data"} "#
                try await eventually("the daemon to count the 4 connections closed") {
                    let metrics = try await daemon.control { try await $0.metrics() }
                    let open = metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }
                    return try #require(open.flatMap { Double($0.dropFirst(prefix.count)) }) <= Double(admitted.count)
                }
                try await Self.expectAnswered(daemon, count: 20)
                withExtendedLifetime(admitted) {}
            }
        }

        @Test(
            "M4: an open-file limit that leaves no room for connections: exit 1, saying so",
            needsPrlimit
        )
        func descriptorLimitTooLow() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try Self.startLimited(sandbox, limit: 30, arguments: [])
                let ended = await daemon.child.waitForExit(timeout: .seconds(60))
                #expect(ended == .exit(1), "\(String(describing: ended))")
                #expect(daemon.stderr().contains("open-file limit (RLIMIT_NOFILE) of 30"), "\(daemon.stderr())")
                #expect(!exists(sandbox.socketPath))
            }
        }

        @Test("per-uid cap: by default a quarter of --max-connections; the next is refused UNAVAILABLE and counted")
        func connectionsPerUID() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: ["--max-connections", "8"])
                try await MalformedTraffic.expectConnectionLimit(
                    daemon,
                    holding: 2,
                    refusal: "connection limit of 2 per uid reached for uid \(getuid())"
                )
                try await Self.expectRefusals(daemon, "connection_limit_per_uid", atLeast: 1)
            }
        }

        @Test("slow-loris: connections dribbling a frame are closed on both sockets; checks meanwhile are answered")
        func slowLoris() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(
                    arguments: TestDocuments.asserterArguments + ["--partial-frame-timeout", "2"]
                )
                let data = try await LoadSockets.open(daemon.socket, count: 100)
                let control = try await LoadSockets.open(daemon.controlSocket, count: 3)
                defer {
                    data.closeAll()
                    control.closeAll()
                }
                // A frame announcing 1000 bytes, sent one byte every 200 ms: never complete.
                let frame = try RawFrame.check(streamID: 1, Self.request)
                let head = [0, 0, 3, 0xe8] + frame.dropFirst(4)
                let dribble = Task {
                    try await LoadSockets(data.fds + control.fds).dribble(
                        head,
                        every: .milliseconds(200),
                        for: .seconds(30)
                    )
                }
                try await Self.expectAnswered(daemon)
                let (dataRefusals, controlRefusals) = try await (
                    data.refusalsUntilClosed(timeout: .seconds(60)),
                    control.refusalsUntilClosed(timeout: .seconds(60))
                )
                // Done sending before the descriptors are closed (and their numbers reused).
                dribble.cancel()
                _ = await dribble.result
                #expect(dataRefusals == Array(repeating: "INVALID_ARGUMENT", count: 100), "\(Set(dataRefusals))")
                #expect(controlRefusals == Array(repeating: "INVALID_ARGUMENT", count: 3), "\(controlRefusals)")
                #expect(try await daemon.status().ready)
            }
        }

        @Test("the control socket takes --max-control-connections at once; the next gets UNAVAILABLE on stream 0")
        func controlConnectionLimit() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: ["--max-control-connections", "4"])
                // Once only the asking connection is open (the harness's earlier ones have closed):
                try await eventually("earlier control connections to close", timeout: .seconds(15)) {
                    try await daemon.control { try await $0.metrics() }.contains(
                        "moat_connections{socket=\"control\"} 1"
                    )
                }
                // Five at once, each asking Status: four are served, one (whichever the daemon
                // counts fifth: connections are set up on several event loops) is refused.
                var connections: [RawConnection] = []
                for _ in 1...5 { connections.append(try await RawConnection.connect(daemon.controlSocket)) }
                var answers: [String] = []
                for (index, raw) in connections.enumerated() {
                    let streamID = UInt32(index + 1)
                    try? await raw.send(RawFrame.bytes(streamID: streamID, method: MethodID.status.rawValue))
                    let answer = try await raw.readFrame()
                    answers.append(answer.streamID == streamID ? answer.statusName : "stream 0: \(answer.statusName)")
                }
                #expect(answers.sorted() == ["OK", "OK", "OK", "OK", "stream 0: UNAVAILABLE"], "\(answers)")
                for raw in connections { raw.shutdown() }
                try await eventually("a control call once the connections closed", timeout: .seconds(15)) {
                    (try? await daemon.status(timeout: .seconds(5))) != nil
                }
                try await Self.expectRefusals(daemon, "control_connection_limit", atLeast: 1)
            }
        }

        @Test("10 000 connections opened and abandoned: descriptors return to where they were, the daemon answers")
        func connectionChurn() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments)
                try await Self.expectAnswered(daemon, count: 20)
                let descriptors = try #require(LoadSockets.descriptors(daemon.pid))
                let resident = try #require(daemon.residentBytes())
                let check = try RawFrame.check(streamID: 1, Self.request)
                // 40 rounds of 250: a third send a whole check, a third half of one, a third
                // nothing; all close without reading.
                for _ in 0..<40 {
                    let round = try await LoadSockets.open(daemon.socket, count: 250)
                    try await offload {
                        for (index, fd) in round.fds.enumerated() {
                            let bytes = index % 3 == 0 ? check : index % 3 == 1 ? Array(check.prefix(20)) : []
                            _ = bytes.withUnsafeBytes {
                                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                            }
                        }
                    }
                    round.closeAll()
                }
                try await eventually("the daemon's descriptors to return to \(descriptors)", timeout: .seconds(60)) {
                    (LoadSockets.descriptors(daemon.pid) ?? .max) <= descriptors + 2
                }
                try await Self.expectAnswered(daemon)
                let after = try #require(daemon.residentBytes())
                expectResidentGrowth(
                    after - resident,
                    below: 64 << 20,
                    "churn grew the daemon from \(Self.megabytes(resident)) to \(Self.megabytes(after))"
                )
            }
        }
    }
}

/// Many raw client descriptors at once, non-blocking, for load that `RawConnection` (one
/// blocking connection) would make slow; all I/O runs off the cooperative pool.
final class LoadSockets: Sendable {
    let fds: [Int32]
    private let closed = Atomic(false)

    init(_ fds: [Int32]) {
        self.fds = fds
    }

    /// `count` connections to `path` (a full backlog is waited out, for at most 60 s).
    static func open(_ path: String, count: Int) async throws -> LoadSockets {
        LoadSockets(
            try await offload {
                let deadline = ContinuousClock.now + .seconds(60)
                var fds: [Int32] = []
                while fds.count < count {
                    do throws(UnixDomainSocket.Failure) {
                        fds.append(try UnixDomainSocket.connect(to: path))
                    } catch  where error.code == EAGAIN && ContinuousClock.now < deadline {
                        usleep(2_000)
                    } catch {
                        for fd in fds { close(fd) }
                        throw HarnessError("connect '\(path)': \(error)")
                    }
                }
                return fds
            }
        )
    }

    /// Closes every connection (once: a second call does nothing).
    func closeAll() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        for fd in fds { close(fd) }
    }

    /// Sends `frame` again and again on every connection without ever reading, until none takes
    /// a byte more for a second (the daemon stopped reading them) or each took `limit` bytes;
    /// returns the bytes sent in all.
    func flood(_ frame: [UInt8], limit: Int) async throws -> Int {
        let fds = self.fds
        return try await offload {
            var sent = [Int](repeating: 0, count: fds.count)
            var offsets = [Int](repeating: 0, count: fds.count)
            var idleSince = ContinuousClock.now
            let giveUp = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now - idleSince < .seconds(1), ContinuousClock.now < giveUp {
                var progressed = false
                for (index, fd) in fds.enumerated() where sent[index] < limit {
                    let count = frame.withUnsafeBytes {
                        Glibc.send(
                            fd,
                            $0.baseAddress! + offsets[index],
                            $0.count - offsets[index],
                            Int32(MSG_DONTWAIT | MSG_NOSIGNAL)
                        )
                    }
                    if count > 0 {
                        sent[index] += count
                        offsets[index] = (offsets[index] + count) % frame.count
                        progressed = true
                    } else if count < 0 && errno != EAGAIN && errno != EINTR {
                        throw HarnessError(
                            "the daemon closed a flooding connection: \(String(cString: strerror(errno)))"
                        )
                    }
                }
                if progressed { idleSince = ContinuousClock.now } else { usleep(20_000) }
            }
            return sent.reduce(0, +)
        }
    }

    /// On each connection in turn: sends `bytes` and reads `frames` answer frames.
    func exchange(_ bytes: [UInt8], frames: Int) async throws {
        let fds = self.fds
        try await offload {
            let deadline = ContinuousClock.now + .seconds(120)
            for fd in fds {
                var sent = 0
                var received: [UInt8] = []
                var answered = 0
                while answered < frames {
                    guard ContinuousClock.now < deadline else { throw HarnessError("no answers to \(frames) frames") }
                    var descriptor = pollfd(
                        fd: fd,
                        events: Int16(POLLIN) | (sent < bytes.count ? Int16(POLLOUT) : 0),
                        revents: 0
                    )
                    _ = poll(&descriptor, 1, 100)
                    if sent < bytes.count {
                        let count = bytes.withUnsafeBytes {
                            Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                        }
                        if count > 0 { sent += count }
                    }
                    var buffer = [UInt8](repeating: 0, count: 1 << 16)
                    let count = buffer.withUnsafeMutableBytes {
                        recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT))
                    }
                    if count == 0 { throw HarnessError("the daemon closed a connection") }
                    if count > 0 { received += buffer.prefix(count) }
                    // Whole frames: 4 length bytes, then that many.
                    while received.count >= 4 {
                        let length = received.prefix(4).reduce(0) { $0 << 8 | Int($1) }
                        guard received.count >= 4 + length else { break }
                        received.removeFirst(4 + length)
                        answered += 1
                    }
                }
            }
        }
    }

    /// Sends `bytes` one byte at a time on every connection, one byte each `interval`, for at
    /// most `duration` or until every connection is closed by the other end.
    func dribble(_ bytes: [UInt8], every interval: Duration, for duration: Duration) async throws {
        let end = ContinuousClock.now + duration
        var open = Set(fds)
        for byte in bytes where ContinuousClock.now < end && !open.isEmpty {
            for fd in open {
                var value = byte
                if Glibc.send(fd, &value, 1, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) < 0, errno != EAGAIN {
                    open.remove(fd)
                }
            }
            try await Task.sleep(for: interval)
        }
    }

    /// The status of the stream-0 frame each connection got before the daemon closed it
    /// ("none" if it closed without one); throws if one is still open after `timeout`.
    func refusalsUntilClosed(timeout: Duration) async throws -> [String] {
        let fds = self.fds
        return try await offload {
            let deadline = ContinuousClock.now + timeout
            return try fds.map { fd in
                var received: [UInt8] = []
                while true {
                    let left = deadline - ContinuousClock.now
                    guard left > .zero else { throw HarnessError("a connection stayed open for \(timeout)") }
                    var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    let milliseconds = Int32(left.components.seconds * 1000 + 1)
                    if poll(&descriptor, 1, milliseconds) <= 0 { continue }
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                    if count > 0 {
                        received += buffer.prefix(count)
                    } else if count == 0 || errno == ECONNRESET {
                        break
                    } else if errno != EINTR && errno != EAGAIN {
                        throw HarnessError("recv: \(String(cString: strerror(errno)))")
                    }
                }
                guard received.count >= 12, received[4..<8].allSatisfy({ $0 == 0 }) else { return "none" }
                return StatusCode(rawValue: UInt16(received[10]) << 8 | UInt16(received[11])).name
            }
        }
    }

    /// User plus system CPU time of process `pid`, in seconds (/proc/PID/stat).
    static func cpuSeconds(_ pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return nil }
        // After the command's ")": state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The descriptors process `pid` has open (/proc/PID/fd).
    static func descriptors(_ pid: Int32) -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count
    }
}
