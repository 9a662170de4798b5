import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The root of the package, found from this file's location (`Tests/MoatIntegrationTests/Support/`).
let packageRoot: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .path

/// The folder of the binaries under test: the build's bin path, where the test bundle itself runs
/// from (`.build/debug`, or `--scratch-path .build-asan`'s for a sanitized build), so a test always
/// starts the `moatd` of the build under test. `MOAT_TEST_BIN` overrides it. `swift build` links
/// the binaries; `swift build --build-tests` does not relink them.
let binPath: String = {
    if let override = ProcessInfo.processInfo.environment["MOAT_TEST_BIN"], !override.isEmpty { return override }
    let executable =
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: executable).deletingLastPathComponent().path
}()
let moatdPath = "\(binPath)/moatd"
let moatctlPath = "\(binPath)/moatctl"

/// A failure of the test machinery (not of the product): a process that would not start, a
/// condition that never came true before its deadline.
struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One test's world: a fresh short temporary directory (`/tmp/moat-it-XXXXXX`, so socket paths stay
/// far below the 107-byte limit) and every process the test starts. `withSandbox` stops those
/// processes (SIGTERM, then SIGKILL after a grace period) and removes the directory when the test
/// ends, whether it passed, failed or threw.
final class Sandbox: Sendable {
    let path: String
    private let children = Mutex<[ChildProcess]>([])
    private let counter = Atomic<Int>(0)

    fileprivate init() throws {
        var template = Array("/tmp/moat-it-XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw HarnessError("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        path = String(cString: created)
    }

    /// `path/name`.
    func file(_ name: String) -> String { "\(path)/\(name)" }

    /// The default rules file of the daemons started here.
    var rulesPath: String { file("rules.json") }
    var socketPath: String { file("moat.sock") }
    var controlSocketPath: String { file("control.sock") }

    /// A name for a new log or input file, unique in this sandbox.
    func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(counter.wrappingAdd(1, ordering: .relaxed).newValue)"
    }

    // MARK: Files

    /// Writes `bytes` to `path` in place (truncate and write, not atomically), creating it 0644.
    func write(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw HarnessError("cannot open '\(path)': \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            guard count > 0 else { throw HarnessError("cannot write '\(path)': \(String(cString: strerror(errno)))") }
            written += count
        }
    }

    /// Replaces `path` atomically, as editors and deployment tools do: a temporary file in the same
    /// directory, then rename.
    func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temporary = "\(path).it-\(uniqueName("tmp"))"
        try write(bytes, to: temporary)
        guard rename(temporary, path) == 0 else {
            throw HarnessError("rename to '\(path)' failed: \(String(cString: strerror(errno)))")
        }
    }

    func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw HarnessError("cannot read '\(path)'") }
        return Array(data)
    }

    // MARK: Processes

    /// Starts `executable` with its standard output and error going to files in the sandbox.
    func spawn(
        _ executable: String,
        _ arguments: [String],
        stdin: [UInt8]? = nil,
        environment extra: [String: String] = [:],
        name: String? = nil
    ) throws -> ChildProcess {
        let label = uniqueName(name ?? URL(fileURLWithPath: executable).lastPathComponent)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        for key in ["MOAT_SOCKET", "MOAT_CONTROL_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
            environment[key] = nil
        }
        environment.merge(extra) { $1 }
        process.environment = environment
        let outPath = file("\(label).out")
        let errPath = file("\(label).err")
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        if let stdin {
            let inPath = file("\(label).in")
            try write(stdin, to: inPath)
            process.standardInput = FileHandle(forReadingAtPath: inPath)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        let child = ChildProcess(process: process, label: label, stdoutPath: outPath, stderrPath: errPath)
        try child.launch()
        children.withLock { $0.append(child) }
        return child
    }

    /// Runs `executable` to completion (killed, and the test failed, after `timeout`).
    func run(
        _ executable: String,
        _ arguments: [String],
        stdin: [UInt8]? = nil,
        environment: [String: String] = [:],
        timeout: Duration = .seconds(120)
    ) async throws -> ToolResult {
        let child = try spawn(executable, arguments, stdin: stdin, environment: environment)
        guard let termination = await child.waitForExit(timeout: timeout) else {
            _ = await child.stop(grace: .seconds(1))
            throw HarnessError("\(child.label) \(arguments) did not finish within \(timeout)")
        }
        return ToolResult(termination: termination, stdout: child.stdout(), stderr: child.stderr())
    }

    /// Runs `moatctl` with `arguments`.
    func moatctl(
        _ arguments: String...,
        stdin: [UInt8]? = nil,
        environment: [String: String] = [:]
    ) async throws -> ToolResult {
        try await run(moatctlPath, arguments, stdin: stdin, environment: environment)
    }

    fileprivate func tearDown() async {
        let started = children.withLock { $0 }
        for child in started where child.isRunning {
            _ = await child.stop(grace: .seconds(10))
        }
        for child in started {
            if let report = child.crashReport() {
                Issue.record("\(child.label) crashed or a sanitizer reported an error:\n\(report)")
            }
        }
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Runs `body` in a fresh sandbox, and always cleans it up.
func withSandbox<Result>(_ body: (Sandbox) async throws -> Result) async throws -> Result {
    let sandbox = try Sandbox()
    do {
        let result = try await body(sandbox)
        await sandbox.tearDown()
        return result
    } catch {
        await sandbox.tearDown()
        throw error
    }
}

/// How a child process ended.
enum Termination: Equatable, CustomStringConvertible {
    case exit(Int32)
    case signal(Int32)

    var description: String {
        switch self {
        case .exit(let code): "exit \(code)"
        case .signal(let signal): "signal \(signal)"
        }
    }
}

/// A finished tool run.
struct ToolResult: CustomStringConvertible {
    var termination: Termination
    var stdout: String
    var stderr: String

    /// The exit code, or -1 when the process died of a signal.
    var status: Int32 {
        if case .exit(let code) = termination { return code }
        return -1
    }

    var description: String { "\(termination)\n--- stdout:\n\(stdout)--- stderr:\n\(stderr)" }
}

/// A process started by a test. `Process` is not `Sendable`; it is only touched under this
/// wrapper's lock, so its operations are safe from any thread.
final class ChildProcess: Sendable {
    private let process: Mutex<Process>
    let label: String
    let stdoutPath: String
    let stderrPath: String

    init(process: sending Process, label: String, stdoutPath: String, stderrPath: String) {
        self.process = Mutex(process)
        self.label = label
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
    }

    /// Starts the process.
    func launch() throws {
        try process.withLock { try $0.run() }
    }

    var pid: Int32 { process.withLock { $0.processIdentifier } }
    var isRunning: Bool { process.withLock { $0.isRunning } }

    func stdout() -> String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    func stderr() -> String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// What the process wrote to standard error from the first line that marks a crash or a
    /// sanitizer's report (the runtime's `Fatal error:`, ASan's, LSan's and TSan's headers), or nil. Every
    /// test fails on one, whatever it asserted: a daemon that dies of a report, or reports and goes
    /// on, otherwise shows only as refused connections, and its report goes with the sandbox.
    func crashReport() -> String? {
        let markers = [
            "Fatal error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer",
            "ThreadSanitizer: ",
        ]
        let text = stderr()
        guard let start = markers.compactMap({ text.range(of: $0)?.lowerBound }).min() else { return nil }
        let lines = text[start...].split(separator: "\n", omittingEmptySubsequences: false)
        return lines.prefix(80).joined(separator: "\n")
    }

    func send(_ signal: Int32) {
        process.withLock { process in
            if process.isRunning { kill(process.processIdentifier, signal) }
        }
    }

    /// How it ended, or nil when it still runs after `timeout`.
    func waitForExit(timeout: Duration) async -> Termination? {
        let deadline = ContinuousClock.now + timeout
        while isRunning {
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return termination
    }

    /// How it ended; only valid once it has.
    var termination: Termination {
        process.withLock { process in
            process.terminationReason == .exit ? .exit(process.terminationStatus) : .signal(process.terminationStatus)
        }
    }

    /// SIGTERM, then SIGKILL if it is still running after `grace`.
    @discardableResult
    func stop(grace: Duration = .seconds(10)) async -> Termination {
        send(SIGTERM)
        if let termination = await waitForExit(timeout: grace) { return termination }
        return await killHard()
    }

    /// SIGKILL, and wait for it to be gone.
    @discardableResult
    func killHard() async -> Termination {
        send(SIGKILL)
        while isRunning { try? await Task.sleep(for: .milliseconds(5)) }
        return termination
    }

    /// The process's resident set size in bytes (VmRSS of /proc/PID/status), or nil once it is gone.
    func residentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            // "VmRSS:\t   12345 kB": a tab, then spaces.
            let kilobytes = line.dropFirst("VmRSS:".count).split(whereSeparator: \.isWhitespace).first.flatMap {
                Int($0)
            }
            return kilobytes.map { $0 * 1024 }
        }
        return nil
    }

    /// Whether the process has a handler for (or ignores) `signal`: before it does, the signal's
    /// default action would kill it. Read from /proc/PID/status (SigCgt, SigIgn).
    func handles(_ signal: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
        let bit = UInt64(1) << UInt64(signal - 1)
        for line in status.split(separator: "\n") where line.hasPrefix("SigCgt:") || line.hasPrefix("SigIgn:") {
            let hex = line.split(separator: "\t").last.map(String.init) ?? ""
            if let mask = UInt64(hex.trimmingCharacters(in: .whitespaces), radix: 16), mask & bit != 0 { return true }
        }
        return false
    }
}

/// Whether this test process, and so the daemon under test (`SanitizedBinariesTests` checks that
/// they are built alike), runs under ThreadSanitizer; under AddressSanitizer or ThreadSanitizer.
let underThreadSanitizer = dlsym(nil, "__tsan_init") != nil
let underSanitizer = underThreadSanitizer || dlsym(nil, "__asan_init") != nil

/// For the hostile-load tests, whose loads and deadlines are sized for the ordinary build: under
/// ThreadSanitizer the daemon runs several times slower, so a well-behaved client's deadlines and
/// the listen backlog no longer hold. They run under AddressSanitizer, and the code they load runs
/// under ThreadSanitizer in every other integration test.
let loadSizedForTheOrdinaryBuild = ConditionTrait.disabled(
    if: underThreadSanitizer,
    "a load sized for the ordinary build: under ThreadSanitizer the daemon is several times slower"
)

/// Expects the daemon's resident memory to have grown by less than `bound` bytes, on the ordinary
/// build only: AddressSanitizer's allocator keeps freed memory in quarantine (256 MiB by default)
/// and ThreadSanitizer's shadow memory grows with the heap, so a bound sized for the daemon says
/// nothing there. The load and every other expectation of a test still run under both.
func expectResidentGrowth(
    _ grown: Int,
    below bound: Int,
    _ comment: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard !underSanitizer else { return }
    #expect(grown < bound, Comment(rawValue: comment), sourceLocation: sourceLocation)
}

/// Polls `condition` until it holds; throws (failing the test) after `timeout`. The timeout is a
/// guard against hanging, never a measurement.
func eventually(
    _ what: @autoclosure () -> String,
    timeout: Duration = .seconds(30),
    every interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return }
        if ContinuousClock.now >= deadline { throw HarnessError("timed out after \(timeout) waiting for: \(what())") }
        try await Task.sleep(for: interval)
    }
}

/// Runs blocking work (raw socket I/O) on a Dispatch thread, so that it never holds one of the
/// few threads of Swift's cooperative pool.
func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}

/// A file's mode bits (permissions only), or nil when it does not exist.
func fileMode(_ path: String) -> UInt32? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    return UInt32(info.st_mode & 0o7777)
}

/// Whether something (file, socket, link) exists at `path`.
func exists(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0
}

/// Whether `path` is a Unix socket file.
func isSocket(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK
}

/// Shared by a test and the client tasks it runs: how many checks they made, and when to stop.
final class LoadProgress: Sendable {
    let checks = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)

    var count: Int { checks.load(ordering: .relaxed) }
    var stopped: Bool { stop.load(ordering: .relaxed) }
    func add(_ count: Int = 1) { checks.wrappingAdd(count, ordering: .relaxed) }
    func finish() { stop.store(true, ordering: .relaxed) }

    /// Waits until `count` more checks have been made.
    func waitFor(_ count: Int, timeout: Duration = .seconds(60)) async throws {
        let start = self.count
        try await eventually("the clients to make \(count) more checks (made \(self.count - start))", timeout: timeout)
        { self.count >= start + count }
    }
}
