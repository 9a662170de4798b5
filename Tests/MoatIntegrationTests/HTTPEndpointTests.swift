import Foundation
import MoatClient
import MoatCore
import MoatWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One HTTP answer as read off the wire: moatd answers one request per connection and closes it.
struct HTTPAnswer: CustomStringConvertible {
    var status: Int
    var headers: [String: String]
    var body: String

    /// Parses what a connection carried until moatd closed it.
    init(_ bytes: [UInt8]) throws {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw HarnessError("no HTTP head in '\(text)'") }
        let lines = text[..<split.lowerBound].split(separator: "\r\n")
        let statusLine = lines.first?.split(separator: " ") ?? []
        guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else {
            throw HarnessError("not an HTTP/1.1 status line: '\(lines.first ?? "")'")
        }
        self.status = status
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { throw HarnessError("bad header line '\(line)'") }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces
            )
        }
        self.headers = headers
        body = String(text[split.upperBound...])
    }

    var json: JSONValue? { try? JSONValue(parsing: Array(body.utf8)) }

    var description: String { "\(status) \(headers) \(body.prefix(2000))" }
}

/// Where a daemon serves HTTP.
enum HTTPEndpoint: Sendable {
    case socket(String)
    case port(Int)

    func connect() async throws -> RawConnection {
        switch self {
        case .socket(let path): try await RawConnection.connect(path)
        case .port(let port): try await RawConnection.connect(loopbackPort: port)
        }
    }

    /// Sends `request` as is, and reads the answer until moatd closes the connection.
    func exchange(_ request: String) async throws -> HTTPAnswer {
        let connection = try await connect()
        try await connection.send(Array(request.utf8))
        return try HTTPAnswer(try await connection.readToEnd())
    }

    func get(_ path: String, method: String = "GET") async throws -> HTTPAnswer {
        try await exchange("\(method) \(path) HTTP/1.1\r\nHost: moat\r\nUser-Agent: it\r\n\r\n")
    }
}

/// A loopback TCP port nothing listens on now (the kernel's pick, released for moatd to bind).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw HarnessError("cannot pick a free port: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
}

extension MoatdIntegrationTests {
    /// docs/running.md, "Health and metrics over HTTP" and "The stale-rules guard"; README.md,
    /// "Health and metrics over HTTP".
    @Suite("HTTP endpoints")
    struct HTTPEndpoints {
        @Test("GET /healthz, /readyz, /metrics, /status on TCP and a Unix socket; HEAD; 404; 405; 413")
        func endpoints() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let port = try freeLoopbackPort()
                let socket = sandbox.file("http.sock")
                let daemon = try await sandbox.startDaemon(
                    arguments: TestDocuments.asserterArguments + [
                        "--http-listen", "127.0.0.1:\(port)", "--http-socket", socket, "--http-socket-mode", "0600",
                        // Far above the exchanges' own bound: every answer must close its connection.
                        "--http-timeout", "600",
                    ]
                )
                #expect(fileMode(socket) == 0o600)
                for endpoint in [HTTPEndpoint.port(port), .socket(socket)] {
                    let health = try await endpoint.get("/healthz")
                    #expect(health.status == 200 && health.body == "ok\n", "\(health)")
                    #expect(health.headers["connection"] == "close", "\(health)")
                    let ready = try await endpoint.get("/readyz")
                    #expect(ready.status == 200 && ready.headers["content-type"] == "application/json", "\(ready)")
                    #expect(ready.json?["ready"] == .bool(true) && ready.json?["reason"] == .null, "\(ready)")
                }
                let http = HTTPEndpoint.port(port)

                // /metrics: the registry `moatctl metrics` shows, moving with traffic.
                let allowed = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                #expect(allowed.decision?.outcome == .allow, "\(allowed.summary)")
                let metrics = try await http.get("/metrics")
                #expect(metrics.status == 200, "\(metrics)")
                #expect(metrics.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8", "\(metrics)")
                #expect(metrics.body.contains(#"moat_checks_total{decision="allow",inner_code=""} 1"#), "\(metrics)")
                let overControl = try await daemon.control { try await $0.metrics() }
                func families(_ text: String) -> Set<Substring> {
                    Set(text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") })
                }
                #expect(families(metrics.body) == families(overControl))

                // HEAD: the GET answer's head, no body.
                let head = try await http.get("/metrics", method: "HEAD")
                #expect(head.status == 200 && head.body.isEmpty && Int(head.headers["content-length"] ?? "") ?? 0 > 0)

                // /status: the document `moatctl status --json` prints.
                let status = try await http.get("/status")
                #expect(status.status == 200, "\(status)")
                let printed = try await sandbox.moatctl("status", "--json", "--control-socket", daemon.controlSocket)
                let expected = try JSONValue(parsing: Array(printed.stdout.utf8))
                func stable(_ value: JSONValue?) -> [String] {
                    // What moves between the two readings: the uptime, and the confirmations of
                    // the rules file at each look.
                    let moving: Set = ["uptimeSeconds", "rulesConfirmedAt", "rulesConfirmedAgeSeconds"]
                    return (value?.objectValue ?? []).filter { !moving.contains($0.key) }
                        .map { "\($0.key)=\($0.value.serialized(.document))" }
                }
                #expect(stable(status.json) == stable(expected) && !stable(expected).isEmpty, "\(status)")
                #expect(status.json?["rulesConfirmedAt"]?.stringValue != nil, "\(status)")

                // Read-only, four paths, no bodies.
                for method in ["POST", "PUT", "DELETE"] {
                    let refused = try await http.exchange(
                        "\(method) /readyz HTTP/1.1\r\nHost: moat\r\nContent-Length: 0\r\n\r\n"
                    )
                    #expect(refused.status == 405 && refused.headers["allow"] == "GET, HEAD", "\(refused)")
                }
                let missing = try await http.get("/metrics/x")
                #expect(missing.status == 404, "\(missing)")
                let body = try await http.exchange(
                    "GET /status HTTP/1.1\r\nHost: moat\r\nContent-Length: 5\r\n\r\nhello"
                )
                #expect(body.status == 413, "\(body)")
                let garbage = try await http.exchange("NOT HTTP AT ALL\r\n\r\n")
                #expect(garbage.status == 400, "\(garbage)")
                #expect(await daemon.stop() == .exit(0))
                #expect(!exists(socket), "moatd left its HTTP socket file behind")
            }
        }

        @Test("limits: a request over 16 KiB is 431, a silent client 408, a connection over the cap 503")
        func limits() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let socket = sandbox.file("http.sock")
                let daemon = try await sandbox.startDaemon(
                    arguments: TestDocuments.asserterArguments + [
                        "--http-socket", socket, "--http-max-connections", "2", "--http-timeout", "5",
                    ]
                )
                let http = HTTPEndpoint.socket(socket)
                let huge = try await http.exchange(
                    "GET /metrics HTTP/1.1\r\nHost: moat\r\nX-Padding: \(String(repeating: "a", count: 20_000))\r\n\r\n"
                )
                #expect(huge.status == 431 && huge.body.contains("16384"), "\(huge)")

                // Two silent clients hold the two connections; a third is refused at once.
                let first = try await http.connect()
                let second = try await http.connect()
                let third = try HTTPAnswer(try await http.connect().readToEnd())
                #expect(third.status == 503 && third.body.contains("--http-max-connections"), "\(third)")
                // Checks are answered meanwhile: the HTTP port holds nothing of the data path.
                let allowed = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                #expect(allowed.decision?.outcome == .allow, "\(allowed.summary)")
                // The silent ones are answered 408 and closed (a bound against hanging, not a timing).
                for connection in [first, second] {
                    let answer = try HTTPAnswer(try await connection.readToEnd(timeout: .seconds(60)))
                    #expect(answer.status == 408 && answer.body.contains("--http-timeout"), "\(answer)")
                }
                try await eventually("a connection slot to be free again") {
                    try await http.get("/healthz").status == 200
                }
                // A slow client (one byte at a time) is cut off the same way.
                let slow = try await http.connect()
                try await slow.send(Array("GET /hea".utf8))
                let cut = try HTTPAnswer(try await slow.readToEnd(timeout: .seconds(60)))
                #expect(cut.status == 408, "\(cut)")
                #expect(await daemon.stop() == .exit(0))
            }
        }

        @Test("--http-listen refuses a non-loopback address without --http-listen-any; bad flags are named")
        func listenRefusesNonLoopback() async throws {
            try await withSandbox { sandbox in
                for (arguments, expected) in [
                    (["--http-listen", "0.0.0.0:9190"], "--http-listen-any"),
                    (["--http-listen", "192.0.2.1:9190"], "--http-listen-any"),
                    (["--http-listen", "localhost:9190"], "not an IP address"),
                    (["--http-listen", "127.0.0.1:0"], "port"),
                    (["--max-snapshot-age", "ten"], "--max-snapshot-age"),
                    (["--max-snapshot-age", "5", "--poll-interval", "5"], "--poll-interval"),
                    (["--stale-answers", "unavailable"], "needs --max-snapshot-age"),
                    (["--stale-answers", "maybe", "--max-snapshot-age", "1m"], "--stale-answers"),
                ] {
                    let refused = try await sandbox.runFailingDaemon(
                        socket: sandbox.file("moat.sock"),
                        controlSocket: sandbox.file("control.sock"),
                        arguments: arguments
                    )
                    #expect(refused.status != 0 && refused.stderr.contains(expected), "\(arguments): \(refused)")
                    #expect(!exists(sandbox.file("moat.sock")), "\(arguments): moatd bound its socket")
                }
            }
        }

        @Test("/readyz: 503 with the reason while no rules are loaded, 200 once a valid file appears")
        func readyzFollowsTheRules() async throws {
            try await withSandbox { sandbox in
                let socket = sandbox.file("http.sock")
                _ = try await sandbox.startDaemon(arguments: ["--http-socket", socket])
                let http = HTTPEndpoint.socket(socket)
                let notReady = try await http.get("/readyz")
                #expect(notReady.status == 503 && notReady.json?["ready"] == .bool(false), "\(notReady)")
                #expect(notReady.json?["reason"]?.stringValue?.isEmpty == false, "\(notReady)")
                #expect(try await http.get("/healthz").status == 200)
                try sandbox.writeAtomically(TestDocuments.allowing, to: sandbox.rulesPath)
                try await eventually("/readyz to answer 200") { try await http.get("/readyz").status == 200 }
            }
        }

        @Test(
            "--max-snapshot-age with --stale-answers unavailable: a rules file gone unconfirmed is 503 and UNAVAILABLE, then recovers"
        )
        func staleRules() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let socket = sandbox.file("http.sock")
                let daemon = try await sandbox.startDaemon(
                    arguments: TestDocuments.asserterArguments + [
                        "--http-socket", socket, "--poll-interval", "1", "--max-snapshot-age", "2s",
                        "--stale-answers", "unavailable",
                    ]
                )
                let http = HTTPEndpoint.socket(socket)
                try await eventually("/readyz to answer 200") { try await http.get("/readyz").status == 200 }
                let fresh = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                #expect(fresh.decision?.outcome == .allow, "\(fresh.summary)")

                // The source stops confirming: the file is gone (the last rules keep serving).
                let aside = sandbox.file("rules.aside")
                #expect(rename(sandbox.rulesPath, aside) == 0)
                var stale = try await http.get("/readyz")
                try await eventually("/readyz to answer 503 for stale rules") {
                    stale = try await http.get("/readyz")
                    return stale.status == 503
                }
                #expect(stale.json?["reason"]?.stringValue?.contains("--max-snapshot-age 2 s") == true, "\(stale)")
                // Checks read the clock in whole seconds: they may see the age up to a second later.
                var refused = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                try await eventually("checks to answer UNAVAILABLE (last: \(refused.summary))") {
                    refused = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                    return refused.error?.status == .unavailable
                }
                #expect(refused.error?.message.contains("--max-snapshot-age") == true, "\(refused.summary)")
                let status = try await daemon.status()
                #expect(!status.ready && status.revision != nil && status.maximumSnapshotAgeSeconds == 2)

                // The file is back: confirmed at the next look, ready and deciding again.
                #expect(rename(aside, sandbox.rulesPath) == 0)
                try await eventually("/readyz to answer 200 again") { try await http.get("/readyz").status == 200 }
                let recovered = try await daemon.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                #expect(recovered.decision?.outcome == .allow, "\(recovered.summary)")
                #expect(await daemon.stop() == .exit(0))
            }
        }

        @Test("systemd socket activation: the HTTP endpoints on the passed moat-http socket")
        func socketActivation() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let data = sandbox.file("activated.sock")
                let control = sandbox.file("activated-control.sock")
                let http = sandbox.file("activated-http.sock")
                let child = try SocketLifecycle.spawnActivated(
                    in: sandbox,
                    sockets: [(data, "moat"), (control, "moat-control"), (http, "moat-http")],
                    arguments: [
                        "--rules", sandbox.rulesPath, "--socket", sandbox.file("own.sock"), "--control-socket",
                        sandbox.file("own-control.sock"), "--decision-log", sandbox.file("decisions.log"),
                    ]
                )
                let daemon = DaemonProcess(child: child, socket: data, controlSocket: control, rules: sandbox.rulesPath)
                try await eventually("systemd-socket-activate to listen") { isSocket(http) && isSocket(control) }
                try await daemon.waitUntilListening()
                let ready = try await HTTPEndpoint.socket(http).get("/readyz")
                #expect(ready.status == 200, "\(ready)")
                #expect(await daemon.stop() == .exit(0))
                #expect(isSocket(http), "moatd unlinked the HTTP socket systemd passed")
            }
        }
    }
}
