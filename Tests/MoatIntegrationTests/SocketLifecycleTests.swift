import Foundation
import MoatClient
import MoatCore
import MoatWire
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension MoatdIntegrationTests {
    /// docs/security.md, README.md, "Running moatd" (moatd).
    @Suite("Sockets and lifecycle")
    struct SocketLifecycle {
        /// The lines of moatd's stderr that are not log records (logs start with a timestamp).
        static func messageLines(_ stderr: String) -> [String] {
            stderr.split(separator: "\n").map(String.init).filter { !$0.isEmpty && !($0.first?.isNumber ?? false) }
        }

        @Test("a second moatd on the same socket path exits 1 with one clear line; the first keeps serving")
        func secondDaemonOnSamePath() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let first = try await sandbox.startDaemon()
                // Same data socket, own control socket; then the other way round.
                for (socket, control) in [
                    (first.socket, sandbox.file("other-control.sock")),
                    (sandbox.file("other.sock"), first.controlSocket),
                ] {
                    let second = try await sandbox.runFailingDaemon(socket: socket, controlSocket: control)
                    #expect(second.status == 1, "\(second)")
                    let lines = Self.messageLines(second.stderr)
                    #expect(lines.count == 1, "expected one line saying why, got: \(lines)")
                    let line = lines.first ?? ""
                    #expect(
                        line.hasPrefix("moatd: ") && line.contains(socket == first.socket ? socket : control)
                            && line.contains("in use"),
                        "\(line)"
                    )
                    // The loser removed nothing of the winner's, nor left its own socket behind.
                    #expect(isSocket(first.socket) && isSocket(first.controlSocket))
                    #expect(!exists(socket == first.socket ? control : socket))
                }
                #expect(first.isRunning)
                let pong = try await first.withClient { try await $0.ping() }
                #expect(pong.ready)
                #expect(try await first.status().ready)
                #expect(await first.stop() == .exit(0))
            }
        }

        @Test("stale socket files left by a SIGKILLed daemon are replaced")
        func staleSocketReplaced() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let killed = try await sandbox.startDaemon()
                #expect(await killed.killHard() == .signal(SIGKILL))
                #expect(isSocket(killed.socket) && isSocket(killed.controlSocket))
                let daemon = try await sandbox.startDaemon()
                let pong = try await daemon.withClient { try await $0.ping() }
                #expect(pong.ready && pong.revision?.hash == TestDocuments.hash(TestDocuments.allowing))
                #expect(await daemon.stop() == .exit(0))
            }
        }

        @Test("a file that is not a socket at the socket path is not replaced")
        func nonSocketFileKept() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                try sandbox.write(Array("precious".utf8), to: sandbox.socketPath)
                let result = try await sandbox.runFailingDaemon(
                    socket: sandbox.socketPath,
                    controlSocket: sandbox.controlSocketPath
                )
                #expect(result.status == 1, "\(result)")
                #expect(try sandbox.read(sandbox.socketPath) == Array("precious".utf8))
                #expect(Self.messageLines(result.stderr).count == 1, "\(result.stderr)")
            }
        }

        @Test("out-of-range limits are usage errors (exit 64) naming the flag; nothing is bound")
        func limitsValidated() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                for (flag, value) in [
                    ("--max-frame-bytes", "100"), ("--max-control-frame-bytes", "4294967296"),
                    ("--max-connections", "0"), ("--partial-frame-timeout", "0"), ("--log-allow-rate", "2"),
                ] {
                    let result = try await sandbox.runFailingDaemon(
                        socket: sandbox.socketPath,
                        controlSocket: sandbox.controlSocketPath,
                        arguments: [flag, value]
                    )
                    #expect(result.status == 64 && result.stderr.contains(flag), "\(flag) \(value): \(result)")
                    #expect(!FileManager.default.fileExists(atPath: sandbox.socketPath))
                }
            }
        }

        @Test("a socket path longer than 107 bytes: exit 1, saying so")
        func socketPathTooLong() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let directory = sandbox.file(String(repeating: "d", count: 100))
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
                let long = "\(directory)/moat.sock"
                try #require(long.utf8.count > 107)
                for (socket, control) in [(long, sandbox.controlSocketPath), (sandbox.socketPath, long)] {
                    let result = try await sandbox.runFailingDaemon(socket: socket, controlSocket: control)
                    #expect(result.status == 1, "\(result)")
                    let lines = Self.messageLines(result.stderr)
                    #expect(lines.count == 1 && lines[0].contains("107"), "\(lines)")
                    #expect(
                        !exists(sandbox.socketPath) && !exists(sandbox.controlSocketPath),
                        "a socket was left behind"
                    )
                }
            }
        }

        /// README.md, "Running moatd": socket paths of at most 107 bytes. A path of 104 to
        /// 107 bytes is within that limit (and within sockaddr_un) and must be served.
        @Test("socket paths of 104 to 107 bytes are served", arguments: [104, 107])
        func socketPathAtTheLimit(_ length: Int) async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let socket = sandbox.file(String(repeating: "s", count: length - sandbox.path.utf8.count - 1))
                let control = sandbox.file(String(repeating: "c", count: length - sandbox.path.utf8.count - 1))
                try #require(socket.utf8.count == length && control.utf8.count == length)
                let daemon = try await sandbox.startDaemon(socket: socket, controlSocket: control)
                #expect(try await daemon.withClient { try await $0.ping() }.ready)
                #expect(await daemon.stop() == .exit(0))
            }
        }

        @Test("a missing socket directory: exit 1, saying so")
        func missingSocketDirectory() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let missing = sandbox.file("no-such-dir/moat.sock")
                for (socket, control) in [(missing, sandbox.controlSocketPath), (sandbox.socketPath, missing)] {
                    let result = try await sandbox.runFailingDaemon(socket: socket, controlSocket: control)
                    #expect(result.status == 1, "\(result)")
                    let lines = Self.messageLines(result.stderr)
                    #expect(
                        lines.count == 1 && lines[0].contains("no-such-dir") && lines[0].contains("does not exist"),
                        "\(lines)"
                    )
                    #expect(
                        !exists(sandbox.socketPath) && !exists(sandbox.controlSocketPath),
                        "a socket was left behind"
                    )
                }
            }
        }

        @Test("socket files are 0660 (data) and 0600 (control); SIGTERM exits 0 and removes both")
        func modesAndSigterm() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon()
                #expect(fileMode(daemon.socket) == 0o660)
                #expect(fileMode(daemon.controlSocket) == 0o600)
                #expect(await daemon.stop() == .exit(0))
                #expect(!exists(daemon.socket) && !exists(daemon.controlSocket))
            }
        }

        @Test("--socket-mode and --control-socket-mode are applied")
        func configuredModes() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: [
                    "--socket-mode", "0666", "--control-socket-mode", "0660",
                ])
                #expect(fileMode(daemon.socket) == 0o666)
                #expect(fileMode(daemon.controlSocket) == 0o660)
                #expect(await daemon.stop() == .exit(0))
            }
        }

        @Test(
            "SIGTERM with clients connected: checks after the drain starts are UNAVAILABLE, the connection closes, exit 0"
        )
        func sigtermWithClients() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(
                    arguments: TestDocuments.asserterArguments + ["--drain-timeout", "5"]
                )
                let raw = try await RawConnection.connect(daemon.socket)
                let request = TestDocuments.aliceGetsSecret()
                try await raw.send(try RawFrame.check(streamID: 1, request))
                let first = try await raw.readFrame()
                #expect(first.status == 0)
                let sent = try await Self.holdChecksUnanswered(
                    raw,
                    daemon,
                    request,
                    answerBytes: 12 + first.payload.count
                )
                daemon.send(SIGTERM)
                // Every check read is answered: those answered before the drain with their
                // decision, the one held unanswered UNAVAILABLE (never a decision); and the open
                // connection is closed by the drain, not left hanging.
                let (closed, frames) = try await raw.readUntilClosed(timeout: .seconds(60))
                #expect(closed, "the connection stayed open")
                let answers = frames.map(\.statusName)
                let decided = answers.prefix { $0 == "OK" }.count
                let unavailable = answers.dropFirst(decided)
                #expect(decided == sent - 2, "\(decided) decided of \(sent - 2) answered before SIGTERM")
                #expect(Array(unavailable) == ["UNAVAILABLE"], "after the decisions: \(unavailable.prefix(5))")
                #expect(await daemon.child.waitForExit(timeout: .seconds(30)) == .exit(0))
                #expect(!exists(daemon.socket) && !exists(daemon.controlSocket))
            }
        }

        /// The data socket's high water mark of unsent answers (docs/protocol.md, "Limits").
        static let unsentAnswerLimit = 256 << 10

        /// Pipelines checks without reading their answers until the daemon holds a check it has
        /// read and not answered (back-pressure, docs/protocol.md "Limits"), as observed rather
        /// than waited for: every answer is `answerBytes` long, so the answers the daemon holds
        /// unsent are the answers it counted (`moat_checks_total`) less those in this end's receive
        /// queue. Checks go in rounds that keep that at most the limit, each waited out until all
        /// are answered; then a last round whose last answer but one takes it over the limit.
        /// Once the daemon has read all of that round and answered all but its last check, it
        /// answers nothing more: returns the number of checks sent, the first one included.
        static func holdChecksUnanswered(
            _ raw: RawConnection,
            _ daemon: DaemonProcess,
            _ request: CheckRequest,
            answerBytes: Int
        ) async throws -> Int {
            try await daemon.control { control in
                func answered() async throws -> Int {
                    let line = try await control.metrics().split(separator: "\n").first {
                        $0.hasPrefix(#"moat_checks_total{decision="allow",inner_code=""} "#)
                    }
                    return try #require(line.flatMap { Int($0.split(separator: " ").last ?? "") })
                }
                var sent = 1  // the check answered and read before
                var streamID: UInt32 = 1
                func send(_ count: Int) async throws {
                    var bytes: [UInt8] = []
                    for _ in 0..<count {
                        streamID += 1
                        bytes += try RawFrame.check(streamID: streamID, request)
                    }
                    try await raw.send(bytes)
                    sent += count
                }
                while true {
                    // The daemon counts a check before it writes the answer: the queue is read
                    // again after another round trip to the daemon until it stays the same.
                    var queued = try raw.unreadAnswerBytes()
                    while true {
                        _ = try await answered()
                        let again = try raw.unreadAnswerBytes()
                        if again == queued { break }
                        queued = again
                    }
                    let unsent = (sent - 1) * answerBytes - queued
                    // The answer that takes the unsent answers over the limit (the channel is
                    // then not writable and the daemon answers nothing more).
                    let crossing = (unsentAnswerLimit - unsent) / answerBytes + 1
                    if crossing <= 8 {
                        try await send(crossing + 1)
                        try await eventually("the daemon to read the last checks and answer all but one") {
                            guard try raw.daemonReadEverything() else { return false }
                            return try await answered() == sent - 1
                        }
                        return sent
                    }
                    try await send(crossing - 1)
                    try await eventually("the daemon to answer every check sent") { try await answered() == sent }
                }
            }
        }

        /// From Debian's `systemd` package, which `make deps` installs: a test needing it fails, never
        /// skips, when it is missing.
        static let activator = "/usr/bin/systemd-socket-activate"

        /// Runs `moatd` with `arguments` under systemd-socket-activate, which listens on each of
        /// `sockets` (path, `LISTEN_FDNAMES` name) and execs moatd on the first connection.
        static func spawnActivated(
            in sandbox: Sandbox,
            sockets: [(path: String, name: String)],
            arguments: [String]
        ) throws -> ChildProcess {
            // systemd-socket-activate gives moatd a clean environment: pass the sanitizer
            // options on, or a sanitized moatd would run with the defaults (LeakSanitizer on).
            let sanitizerOptions = ["ASAN_OPTIONS", "TSAN_OPTIONS"].filter {
                ProcessInfo.processInfo.environment[$0] != nil
            }
            return try sandbox.spawn(
                activator,
                sanitizerOptions.flatMap { ["-E", $0] } + sockets.flatMap { ["-l", $0.path] }
                    + ["--fdname=" + sockets.map(\.name).joined(separator: ":"), "--", moatdPath] + arguments,
                name: "activated-moatd"
            )
        }

        @Test("systemd socket activation: serves on the passed sockets and does not unlink them")
        func socketActivation() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let data = sandbox.file("activated.sock")
                let control = sandbox.file("activated-control.sock")
                // moatd's own paths, which it must not bind when sockets are passed.
                let own = sandbox.file("own.sock")
                let ownControl = sandbox.file("own-control.sock")
                let child = try Self.spawnActivated(
                    in: sandbox,
                    sockets: [(data, "moat"), (control, "moat-control")],
                    arguments: [
                        "--rules", sandbox.rulesPath, "--socket", own, "--control-socket", ownControl,
                        "--decision-log", sandbox.file("decisions.log"),
                    ] + TestDocuments.asserterArguments
                )
                let daemon = DaemonProcess(child: child, socket: data, controlSocket: control, rules: sandbox.rulesPath)
                // systemd-socket-activate binds, then execs moatd (same pid) on the first connection.
                try await eventually("systemd-socket-activate to listen") { isSocket(control) && isSocket(data) }
                try await daemon.waitUntilListening()
                let result = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                #expect(result.decision?.outcome == .allow, "\(result.summary)")
                #expect(!exists(own) && !exists(ownControl), "moatd bound its own paths although sockets were passed")
                #expect(await daemon.stop() == .exit(0))
                #expect(isSocket(data) && isSocket(control), "moatd unlinked sockets systemd passed")
            }
        }

        @Test("a MoatClient reconnects when the daemon restarts")
        func clientReconnects() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                var daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments)
                try await withMoatClient(socketPath: daemon.socket, configuration: .integrationTests()) { client in
                    #expect(await client.check(TestDocuments.aliceGetsSecret()).decision?.outcome == .allow)
                    await daemon.killHard()
                    let down = await client.check(TestDocuments.aliceGetsSecret())
                    #expect(down.decision == nil && !down.isAllowed, "\(down.summary)")
                    daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments)
                    try await eventually("the client to reconnect") {
                        await client.check(TestDocuments.aliceGetsSecret()).decision?.outcome == .allow
                    }
                }
                #expect(await daemon.stop() == .exit(0))
            }
        }

        @Test("--allow-uid without our uid: PERMISSION_DENIED on stream 0, then close; with it: served")
        func allowUID() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let other = getuid() == 12345 ? 12346 : 12345
                let refusing = try await sandbox.startDaemon(arguments: ["--allow-uid", "\(other)"])
                let raw = try await RawConnection.connect(refusing.socket)
                try await raw.send(RawFrame.ping(streamID: 1))
                let (closed, frames) = try await raw.readUntilClosed(timeout: .seconds(10))
                #expect(
                    frames.count == 1 && frames.first?.streamID == 0 && frames.first?.statusName == "PERMISSION_DENIED",
                    "\(frames)"
                )
                #expect(closed, "the refused connection stayed open")
                let quick = {
                    var configuration = MoatClient.Configuration.integrationTests()
                    configuration.deadline = .seconds(5)
                    return configuration
                }()
                let socket = refusing.socket
                // Guarded: a client that hangs on a refused connection is its own bug (ClientRefusals).
                let refusal = await outcome(within: .seconds(20)) {
                    await withMoatClient(socketPath: socket, configuration: quick) {
                        await $0.check(TestDocuments.aliceGetsSecret())
                    }
                }
                if case .success(let result)? = refusal {
                    #expect(result.error?.status == .permissionDenied, "\(result.summary)")
                    #expect(!result.isAllowed)
                } else {
                    Issue.record("the check against a refusing daemon did not finish within 20 s")
                }
                #expect(await refusing.stop() == .exit(0))

                let admitting = try await sandbox.startDaemon(arguments: [
                    "--allow-uid", "\(other)", "--allow-uid", "\(getuid())",
                ])
                #expect(try await admitting.withClient { try await $0.ping() }.ready)
                #expect(await admitting.stop() == .exit(0))
            }
        }

        @Test("A refused connection is half closed: the refusal, end of input, and a late request still goes out")
        func refusalLingers() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let other = getuid() == 12345 ? 12346 : 12345
                let refusing = try await sandbox.startDaemon(arguments: ["--allow-uid", "\(other)"])
                let raw = try await RawConnection.connect(refusing.socket)
                let (closed, frames) = try await raw.readUntilClosed(timeout: .seconds(10))
                #expect(closed && frames.map(\.statusName) == ["PERMISSION_DENIED"], "\(frames)")
                // Closed at once, the daemon would fail this write (EPIPE): a client that sends its
                // first request as the refusal arrives would lose the refusal (docs/protocol.md).
                await #expect(throws: Never.self) { try await raw.send(RawFrame.ping(streamID: 1)) }
                #expect(await refusing.stop() == .exit(0))
            }
        }

        @Test("--control-allow-uid without our uid: PERMISSION_DENIED on stream 0, and no control call runs")
        func controlAllowUID() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let other = getuid() == 12345 ? 12346 : 12345
                let daemon = try await sandbox.startDaemon(arguments: ["--control-allow-uid", "\(other)"], wait: false)
                // The socket file exists from bind(2) on; connections succeed only once it listens.
                var connection: RawConnection?
                try await eventually("moatd to listen") {
                    connection = try? await RawConnection.connect(daemon.controlSocket)
                    return connection != nil
                }
                let raw = connection!
                // A push sent at once, before the refusal can arrive.
                var put = ByteBuffer()
                try PutDocumentRequest(document: TestDocuments.denying).encode(into: &put)
                try await raw.send(
                    RawFrame.bytes(
                        streamID: 1,
                        method: MethodID.putDocument.rawValue,
                        payload: Array(put.readableBytesView)
                    )
                )
                let (closed, frames) = try await raw.readUntilClosed(timeout: .seconds(10))
                #expect(
                    frames.count == 1 && frames.first?.streamID == 0 && frames.first?.statusName == "PERMISSION_DENIED",
                    "\(frames)"
                )
                #expect(closed)
                #expect(try sandbox.read(sandbox.rulesPath) == TestDocuments.allowing)
                // (What the clients make of the refusal: see ClientRefusals.)
                let pong = try await daemon.withClient { try await $0.ping() }
                #expect(pong.revision?.hash == TestDocuments.hash(TestDocuments.allowing))
            }
        }
    }
}
