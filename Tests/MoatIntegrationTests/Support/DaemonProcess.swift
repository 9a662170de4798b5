import Foundation
import MoatClient
import MoatCore
import MoatWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real `moatd` started by a test, with the paths it serves on.
struct DaemonProcess: Sendable {
    let child: ChildProcess
    let socket: String
    let controlSocket: String
    let rules: String

    var pid: Int32 { child.pid }
    var isRunning: Bool { child.isRunning }
    func stderr() -> String { child.stderr() }
    func residentBytes() -> Int? { child.residentBytes() }

    /// Waits until the control socket answers Status and the daemon handles SIGTERM and SIGHUP
    /// (there is a short window after binding before its signal handlers are in place, when
    /// either signal would kill it). Fails early, with the daemon's stderr, if it exits.
    @discardableResult
    func waitUntilListening(timeout: Duration = .seconds(60)) async throws -> StatusResponse {
        var answered: StatusResponse?
        try await eventually("moatd to listen on '\(controlSocket)'", timeout: timeout) {
            guard child.isRunning else {
                throw HarnessError("moatd exited (\(child.termination)) before listening; stderr:\n\(stderr())")
            }
            answered = try? await status(timeout: .seconds(10))
            return answered != nil && child.handles(SIGTERM) && child.handles(SIGHUP)
        }
        return answered!
    }

    /// Waits until the daemon serves the revision with `hash`.
    func waitUntilServing(hash: String, timeout: Duration = .seconds(30)) async throws {
        var last: String?
        try await eventually("moatd to serve revision \(hash) (serving \(last ?? "none"))", timeout: timeout) {
            last = try await status().revision?.hash
            return last == hash
        }
    }

    func status(timeout: Duration = .seconds(60)) async throws -> StatusResponse {
        try await control(timeout: timeout) { try await $0.status() }
    }

    /// One call over a fresh control connection.
    func control<Result: Sendable>(
        timeout: Duration = .seconds(60),
        _ body: (MoatControlClient) async throws -> Result
    ) async throws -> Result {
        try await MoatControlClient.withConnection(socketPath: controlSocket, timeout: timeout, body)
    }

    /// A data-socket client with generous deadlines (debug builds on slow CI machines).
    func withClient<Result>(connections: Int = 2, _ body: (MoatClient) async throws -> Result) async throws -> Result {
        try await withMoatClient(socketPath: socket, configuration: .integrationTests(connections: connections), body)
    }

    func send(_ signal: Int32) { child.send(signal) }

    @discardableResult
    func stop(grace: Duration = .seconds(20)) async -> Termination { await child.stop(grace: grace) }

    @discardableResult
    func killHard() async -> Termination { await child.killHard() }
}

extension MoatClient.Configuration {
    /// Deadlines far above any real answer time: the tests assert answers, never their speed.
    static func integrationTests(connections: Int = 2) -> Self {
        var configuration = MoatClient.Configuration()
        configuration.connections = connections
        configuration.deadline = .seconds(15)
        configuration.maximumReconnectBackoff = .milliseconds(200)
        return configuration
    }
}

extension Sandbox {
    /// Starts `moatd` on this sandbox's socket paths (or the given ones) and rules file, with its
    /// decision log in the sandbox, and (unless `wait` is false) waits until it listens.
    func startDaemon(
        rules: String? = nil,
        socket: String? = nil,
        controlSocket: String? = nil,
        arguments: [String] = [],
        wait: Bool = true
    ) async throws -> DaemonProcess {
        let rules = rules ?? rulesPath
        let socket = socket ?? socketPath
        let controlSocket = controlSocket ?? controlSocketPath
        let child = try spawn(
            moatdPath,
            [
                "--rules", rules, "--socket", socket, "--control-socket", controlSocket, "--decision-log",
                file(uniqueName("decisions") + ".log"),
            ]
                + arguments,
            name: "moatd"
        )
        let daemon = DaemonProcess(child: child, socket: socket, controlSocket: controlSocket, rules: rules)
        if wait { try await daemon.waitUntilListening() }
        return daemon
    }

    /// Runs a `moatd` that is expected to refuse to start, and returns how it ended.
    func runFailingDaemon(
        rules: String? = nil,
        socket: String,
        controlSocket: String,
        arguments: [String] = []
    ) async throws -> ToolResult {
        try await run(
            moatdPath,
            [
                "--rules", rules ?? rulesPath, "--socket", socket, "--control-socket", controlSocket, "--decision-log",
                file(uniqueName("decisions") + ".log"),
            ]
                + arguments,
            timeout: .seconds(60)
        )
    }
}

extension CheckResult {
    /// "ALLOW", "DENY", or why no decision came.
    var summary: String {
        switch outcome {
        case .decided(let decision):
            "\(decision.outcome == .allow ? "ALLOW" : "DENY") \(decision.code) \(decision.innerCode.map { "\($0)" } ?? "") at \(decision.revision)"
        case .couldNotDecide(let error): "could not decide: \(error.status.name): \(error.message)"
        }
    }
}
