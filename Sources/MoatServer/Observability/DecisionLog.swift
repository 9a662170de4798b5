import Logging
import MoatCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import SystemPackage
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif
// C types (`stat`, `dirent`) are also declared through CoreFoundation, which the etcd client's TLS
// stack loads into this module: imported here, so that their members resolve in this file.
#if canImport(CoreFoundation)
import CoreFoundation
#endif

// Hand-written, not swift-log: bounded per-uid queue, own writer thread, rotation; a check never waits for it.

/// The audit trail of decisions (docs/semantics.md "What a decision reports", README "Decision
/// log"), as JSON lines.
///
/// Checks hand a record to a queue bounded by bytes and return: denies always, allows sampled.
/// Long text is cut before it is queued, and one peer uid may hold at most half of the queue, so
/// that a flood of junk from one caller cannot crowd out everyone else's records. A dedicated
/// thread (not Swift's cooperative pool) formats the records and writes them in batches. A record
/// that does not fit is dropped and counted per peer uid; the writer reports the drops in the log
/// itself ("dropped N records from uid U") at most every `dropSummaryIntervalSeconds`. A file
/// that would grow past `maximumFileBytes` is rotated to `PATH.1`; `reopen()` (SIGUSR1) reopens
/// the path, for logrotate. A check never waits for the log.
public final class DecisionLog: Sendable {
    /// One decision and what surrounded it.
    struct Record: Sendable {
        var unixMillis: Int64
        var request: CheckRequest
        var decision: Decision
        var peer: PeerCredentials?
        var durationMicros: Int64
        /// The id sent to Envoy with the answer (`x-moat-decision-id`, docs/envoy.md); nil on the data socket.
        var decisionId: String? = nil
        /// Set on the line of a check the shadow candidate would decide the other way.
        var shadowFlip: ShadowFlip? = nil
    }

    /// A check the shadow candidate would decide the other way (docs/protocol.md, "Shadow rule sets").
    struct ShadowFlip: Sendable {
        /// "allow→deny" or "deny→allow".
        var change: String
        var candidate: Revision
        /// Both decisions in words ("allowed by IP rule 3 (203.0.113.0/24)").
        var serving: String
        var wouldBe: String
    }

    public struct Configuration: Sendable {
        /// Where the JSON lines go: a file path, or `-` for standard error.
        public var destination: String
        /// The share of allow decisions logged, 0 to 1 (denies are always logged).
        public var allowSampleRate: Double
        /// Bytes of records waiting to be written before new ones are dropped.
        public var queueBytes: Int
        /// The file is rotated to `PATH.1` before it would grow past this (0: never).
        public var maximumFileBytes: Int64
        /// Longest text field kept (the message: four times this); longer ones are cut.
        public var maximumFieldBytes: Int
        /// Drops are reported at most this often.
        public var dropSummaryIntervalSeconds: Int64

        /// The least `queueBytes` and `maximumFileBytes` (when not 0) accepted: a few records.
        public static let minimumBytes = 64 * 1024

        public init(
            destination: String = "-",
            allowSampleRate: Double = 0.01,
            queueBytes: Int = 8 << 20,
            maximumFileBytes: Int64 = 100 << 20,
            maximumFieldBytes: Int = 256,
            dropSummaryIntervalSeconds: Int64 = 10
        ) {
            self.destination = destination
            self.allowSampleRate = allowSampleRate
            self.queueBytes = queueBytes
            self.maximumFileBytes = maximumFileBytes
            self.maximumFieldBytes = maximumFieldBytes
            self.dropSummaryIntervalSeconds = dropSummaryIntervalSeconds
        }
    }

    /// What checks and the writer share, under `queue`'s lock.
    struct Queue {
        var records: [Record] = []
        var bytes = 0
        /// Queued bytes by peer uid (`Int64(uid)`, -1 for a peer without credentials).
        var bytesByPeer: [Int64: Int] = [:]
        /// Records dropped since the last summary, by peer uid.
        var droppedByPeer: [Int64: UInt64] = [:]
        var reopenRequested = false
        var finishing = false
        /// The writer thread has written its last line and closed the file.
        var stopped = false
    }

    private let queue = WaitableLock(Queue())
    let configuration: Configuration
    /// `allowSampleRate` as a threshold for a 64-bit random draw.
    private let allowSampling: SampleThreshold
    private let metrics: ServerMetrics
    private let thread = NIOThreadPool(numberOfThreads: 1)

    init(configuration: Configuration, metrics: ServerMetrics) {
        self.configuration = configuration
        allowSampling = SampleThreshold(rate: configuration.allowSampleRate)
        self.metrics = metrics
    }

    /// Whether an allow should be logged, given a random draw.
    func samplesAllow(_ draw: @autoclosure () -> UInt64) -> Bool {
        allowSampling.samples(draw())
    }

    /// Queues a record; drops and counts it when it does not fit. Never blocks on the writer.
    func submit(_ record: Record) {
        let record = record.trimmed(maximumFieldBytes: configuration.maximumFieldBytes)
        let cost = record.cost
        let peer = record.peer.map { Int64($0.uid) } ?? -1
        let capacity = configuration.queueBytes
        let queued = queue.withLock { queue in
            guard !queue.finishing, queue.bytes + cost <= capacity,
                queue.bytesByPeer[peer, default: 0] + cost <= capacity / 2
            else {
                queue.droppedByPeer[peer, default: 0] += 1
                return false
            }
            queue.records.append(record)
            queue.bytes += cost
            queue.bytesByPeer[peer, default: 0] += cost
            return true
        }
        if queued { queue.signal() } else { metrics.decisionLogDropped.increment() }
    }

    /// Bytes of records waiting to be written.
    var queuedBytes: Int { queue.withLock { $0.bytes } }

    /// Starts the writer thread.
    func start(logger: Logger) {
        thread.start()
        thread.submit { _ in self.writeUntilFinished(logger: logger) }
    }

    /// Asks the writer to reopen the file at the configured path (after logrotate moved it).
    func reopen() {
        queue.withLock { $0.reopenRequested = true }
        queue.signal()
    }

    /// Refuses new records and lets the writer write what is queued and report drops. Returns
    /// whether its thread ended within `limit`: a writer stuck in a system call (a pipe nobody
    /// reads, a hung file system) is left behind rather than holding up the daemon's shutdown.
    @discardableResult
    func stop(within limit: Duration = .seconds(10)) async -> Bool {
        queue.withLock { $0.finishing = true }
        queue.signal()
        let deadline = ContinuousClock.now + limit
        while !queue.withLock({ $0.stopped }) {
            guard ContinuousClock.now < deadline else { return false }
            // Cancelled (the service group gave up): keep waiting, without spinning.
            do { try await Task.sleep(for: .milliseconds(5)) } catch { usleep(5_000) }
        }
        try? await thread.shutdownGracefully()
        return true
    }

    // MARK: - The writer thread

    private func writeUntilFinished(logger: Logger) {
        var sink = Sink(configuration: configuration, metrics: metrics, logger: logger)
        let interval = max(configuration.dropSummaryIntervalSeconds, 1) * 1_000_000_000
        var nextSummary = Self.monotonicNanos() + interval
        while true {
            let summaryDue = nextSummary
            let (records, dropped, reopen, finishing, due) = queue.wait(
                untilMonotonicNanos: summaryDue,
                while: { $0.records.isEmpty && !$0.reopenRequested && !$0.finishing },
                then: { queue in
                    let due = queue.finishing || Self.monotonicNanos() >= summaryDue
                    defer {
                        queue.records = []
                        queue.bytes = 0
                        queue.bytesByPeer = [:]
                        queue.reopenRequested = false
                        if due { queue.droppedByPeer = [:] }
                    }
                    return (queue.records, queue.droppedByPeer, queue.reopenRequested, queue.finishing, due)
                }
            )
            if reopen { sink.reopen() }
            sink.write(records.map { Self.json($0) })
            if due {
                sink.summarize(dropped: dropped, millis: WallClock.millis())
                nextSummary = Self.monotonicNanos() + interval
            }
            if finishing { break }
        }
        sink.close()
        queue.withLock { $0.stopped = true }
    }

    static func monotonicNanos() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// The summary line of records dropped from one peer.
    static func dropSummary(peer: Int64, dropped: UInt64, millis: Int64) -> JSONValue {
        let who = peer < 0 ? "a peer without credentials" : "uid \(peer)"
        return .object([
            ("time", .string(Timestamp.iso8601(millis: millis))),
            ("event", .string("DecisionLogDropped")),
            ("peer", peer < 0 ? .null : .object([("uid", .number(String(peer)))])),
            ("droppedRecords", .number(String(dropped))),
            ("message", .string("dropped \(dropped) records from \(who)")),
        ])
    }

    /// The audit fields of docs/semantics.md "What a decision reports".
    static func json(_ record: Record) -> JSONValue {
        let decision = record.decision
        let request = record.request
        func text(_ value: String?) -> JSONValue { value.map { $0.isEmpty ? .null : .string($0) } ?? .null }
        func flag(_ value: Bool?) -> JSONValue { value.map { .bool($0) } ?? .null }
        let admitted = decision.admittedBy
        let granted = decision.grantedBy
        let accessPolicyMatch: Bool? =
            granted?.kind == .accessPolicy || decision.innerCode == .forbiddenByPolicy
            ? true : decision.innerCode == .accessDenied ? false : nil
        let rbacAuthorized: Bool? =
            granted?.kind == .roleAssignment ? true : decision.innerCode == .forbiddenByRbac ? false : nil
        var members: [(String, JSONValue)] = [
            ("time", .string(Timestamp.iso8601(millis: record.unixMillis))),
            ("correlationId", text(request.requestId)),
            ("decisionId", text(record.decisionId)),
            ("vault", text(request.vault)),
            ("operationName", text(request.operation?.name)),
            ("resultSignature", .string(decision.code.resultSignature)),
            ("httpStatusCode", .number(String(decision.httpStatus))),
            ("innerCode", text(decision.innerCode?.rawValue)),
            ("callerIpAddress", text(request.sourceAddress)),
            (
                "identity",
                decision.caller.map {
                    .object([("oid", text($0.objectId)), ("appid", text($0.applicationId)), ("tid", text($0.tenantId))])
                } ?? .null
            ),
            ("addressAuthorizationType", text(admitted?.kind.addressAuthorizationType)),
            ("isAddressAuthorized", decision.stage == .network ? .bool(false) : flag(admitted.map { _ in true })),
            // The subnet that admitted the request (also one resolved from a declared prefix),
            // else the one the request named.
            ("subnetId", text(admitted?.kind == .virtualNetworkRule ? admitted?.rule : request.subnetId)),
            ("trustedService", text(admitted?.service)),
            ("isAccessPolicyMatch", flag(accessPolicyMatch)),
            ("isRbacAuthorized", flag(rbacAuthorized)),
            ("appliedAssignmentId", text(granted?.id)),
            ("enableRbacAuthorization", flag(decision.enableRbacAuthorization)),
            ("revision", decision.revision.json),
            ("durationMicros", .number(String(record.durationMicros))),
            (
                "peer",
                record.peer.map { .object([("pid", .number(String($0.pid))), ("uid", .number(String($0.uid)))]) }
                    ?? .null
            ),
            ("message", decision.outcome == .deny ? .string(decision.message) : .null),
        ]
        if let flip = record.shadowFlip {
            members.append(
                (
                    "shadowFlip",
                    .object([
                        ("change", .string(flip.change)),
                        ("candidateRevision", flip.candidate.json),
                        ("serving", .string(flip.serving)),
                        ("candidate", .string(flip.wouldBe)),
                    ])
                )
            )
        }
        return .object(members)
    }
}

extension DecisionLog.Record {
    /// Bytes a record costs in the queue besides its text: the line's member names and numbers.
    static let fixedCost = 640

    /// What the record will be logged as: the fields the log does not write left out (the token
    /// above all), and each text field cut to `maximumFieldBytes` (the message to four times that).
    func trimmed(maximumFieldBytes limit: Int) -> Self {
        func cut(_ text: String, _ limit: Int) -> String { Self.truncated(text, toBytes: limit) }
        var kept = CheckRequest(
            vault: cut(request.vault, limit),
            operation: request.operation,
            sourceAddress: cut(request.sourceAddress, limit)
        )
        kept.subnetId = cut(request.subnetId, limit)
        kept.requestId = cut(request.requestId, limit)
        var outcome = decision
        outcome.message = cut(decision.message, limit * 4)
        outcome.wwwAuthenticate = nil
        outcome.required = nil
        outcome.caller = decision.caller.map {
            Caller(
                objectId: cut($0.objectId, limit),
                applicationId: cut($0.applicationId, limit),
                tenantId: cut($0.tenantId, limit),
                issuer: ""
            )
        }
        outcome.admittedBy = decision.admittedBy.map {
            Admission(kind: $0.kind, rule: $0.rule.map { cut($0, limit) }, service: $0.service.map { cut($0, limit) })
        }
        outcome.grantedBy = decision.grantedBy.map { Grant(kind: $0.kind, id: $0.id.map { cut($0, limit) }) }
        return Self(
            unixMillis: unixMillis,
            request: kept,
            decision: outcome,
            peer: peer,
            durationMicros: durationMicros,
            decisionId: decisionId,
            shadowFlip: shadowFlip.map {
                DecisionLog.ShadowFlip(
                    change: $0.change,
                    candidate: $0.candidate,
                    serving: cut($0.serving, limit),
                    wouldBe: cut($0.wouldBe, limit)
                )
            }
        )
    }

    /// About the bytes the (trimmed) record holds and its line takes.
    var cost: Int {
        let texts = [
            request.vault, request.sourceAddress, request.subnetId, request.requestId, decision.message,
            decision.caller?.objectId ?? "", decision.caller?.applicationId ?? "", decision.caller?.tenantId ?? "",
            decision.admittedBy?.rule ?? "", decision.admittedBy?.service ?? "", decision.grantedBy?.id ?? "",
            decision.revision.hash, decisionId ?? "", shadowFlip?.serving ?? "", shadowFlip?.wouldBe ?? "",
        ]
        return texts.reduce(Self.fixedCost) { $0 + $1.utf8.count }
    }

    /// `text` when it fits in `limit` UTF-8 bytes, else its longest prefix of whole characters
    /// that fits with the marker `…[N bytes]` (N: the original length) appended.
    static func truncated(_ text: String, toBytes limit: Int) -> String {
        let length = text.utf8.count
        guard length > limit else { return text }
        let marker = "…[\(length) bytes]"
        var kept = ""
        var used = 0
        for character in text {
            let size = character.utf8.count
            if used + size + marker.utf8.count > limit { break }
            kept.append(character)
            used += size
        }
        return kept + marker
    }
}

/// Where the writer thread puts lines: the file (or standard error), its size, rotation. Only
/// the writer thread touches it.
private struct Sink {
    let configuration: DecisionLog.Configuration
    let metrics: ServerMetrics
    let logger: Logger
    private var fd: Int32 = -1
    private var size: Int64 = 0
    /// A write or rotation failed and was reported: report the next failure only after a success.
    private var failing = false

    private var isStandardError: Bool { configuration.destination == "-" }
    private var path: String { configuration.destination }

    init(configuration: DecisionLog.Configuration, metrics: ServerMetrics, logger: Logger) {
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        open()
    }

    private mutating func open() {
        if isStandardError {
            fd = STDERR_FILENO
            return
        }
        fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            report("cannot open decision log '\(path)': \(Errno(rawValue: errno)); decisions are not logged")
            return
        }
        // The file's size: where an append-only descriptor writes next.
        let end = lseek(fd, 0, SEEK_END)
        size = end >= 0 ? Int64(end) : 0
    }

    mutating func close() {
        if fd >= 0 && !isStandardError { Glibc.close(fd) }
        fd = -1
    }

    /// Reopens the path (SIGUSR1): a file moved away by logrotate is left alone, a new one begins.
    mutating func reopen() {
        guard !isStandardError else { return }
        close()
        open()
        if fd >= 0 { logger.info("decision log reopened", metadata: ["path": "\(path)"]) }
    }

    /// Writes one line per record summary, logging them in the daemon's log too.
    mutating func summarize(dropped: [Int64: UInt64], millis: Int64) {
        guard !dropped.isEmpty else { return }
        var lines: [JSONValue] = []
        for (peer, count) in dropped.sorted(by: { $0.key < $1.key }) {
            let summary = DecisionLog.dropSummary(peer: peer, dropped: count, millis: millis)
            metrics.countDecisionLogDrops(uid: peer < 0 ? "" : String(peer), count: count)
            logger.warning("decision log: \(summary["message"]?.stringValue ?? "")")
            lines.append(summary)
        }
        write(lines, records: false)
    }

    /// Writes lines in few system calls: up to 64 KiB of whole lines each, or to standard error
    /// (shared with the daemon's own log) at most `PIPE_BUF` bytes, which a pipe never splits.
    mutating func write(_ lines: [JSONValue], records: Bool = true) {
        if fd < 0 && !isStandardError && !lines.isEmpty { open() }
        var buffer: [UInt8] = []
        var buffered = 0
        let limit = isStandardError ? 0 : configuration.maximumFileBytes
        let chunk = isStandardError ? Int(PIPE_BUF) : 64 * 1024
        for line in lines {
            var text = line.serialized(.compact)
            text += "\n"
            let count = Int64(text.utf8.count)
            if buffer.count + text.utf8.count > chunk { flush(&buffer, &buffered, records: records) }
            if limit > 0 && size + Int64(buffer.count) + count > limit {
                flush(&buffer, &buffered, records: records)
                rotate()
                if size + count > limit {
                    if records { metrics.decisionLogDropped.increment() }
                    continue
                }
            }
            buffer += text.utf8
            buffered += 1
        }
        flush(&buffer, &buffered, records: records)
    }

    private mutating func flush(_ buffer: inout [UInt8], _ lines: inout Int, records: Bool) {
        defer {
            buffer.removeAll(keepingCapacity: true)
            lines = 0
        }
        guard !buffer.isEmpty else { return }
        guard fd >= 0 else {
            if records { metrics.decisionLogDropped.increment(by: Int64(lines)) }
            return
        }
        var offset = 0
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                report("cannot write decision log '\(path)': \(Errno(rawValue: errno)); records are dropped")
                if records { metrics.decisionLogDropped.increment(by: Int64(lines)) }
                return
            }
            offset += written
        }
        size += Int64(buffer.count)
        failing = false
        if records { metrics.decisionLogWritten.increment(by: Int64(lines)) }
    }

    /// Moves the full file to `PATH.1` (replacing the previous one) and begins a new one; when the
    /// file cannot be moved, it stays at its limit and further lines are dropped.
    private mutating func rotate() {
        guard fd >= 0, size > 0 else { return }
        close()
        if rename(path, path + ".1") != 0 {
            report("cannot rotate decision log '\(path)' to '\(path).1': \(Errno(rawValue: errno))")
        } else {
            metrics.decisionLogRotations.increment()
        }
        open()
    }

    private mutating func report(_ message: String) {
        if !failing { logger.error("\(message)") }
        failing = true
    }
}

/// State behind a pthread mutex, with a condition variable one thread sleeps on until another
/// changes the state.
// NIO's ConditionLock does not fit: it waits for an Int value, with the wall clock.
final class WaitableLock<State>: @unchecked Sendable {  // `state` is only touched under the mutex
    private var state: State
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init(_ state: State) {
        self.state = state
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func withLock<Result>(_ body: (inout State) -> Result) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&state)
    }

    /// Wakes the thread in `wait`, if any.
    func signal() {
        pthread_cond_signal(condition)
    }

    /// Sleeps while `idle` holds, until `signal()` or the deadline (CLOCK_MONOTONIC), then runs
    /// `body` under the lock.
    func wait<Result>(
        untilMonotonicNanos deadline: Int64,
        while idle: (State) -> Bool,
        then body: (inout State) -> Result
    ) -> Result {
        var until = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while idle(state) {
            if pthread_cond_timedwait(condition, mutex, &until) == ETIMEDOUT { break }
        }
        return body(&state)
    }
}

/// The decision log's writer as a service: runs until the daemon shuts down, then drains. SIGUSR1
/// reopens the file.
struct DecisionLogWriter: Service {
    let log: DecisionLog
    let logger: Logger

    func run() async throws {
        log.start(logger: logger)
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sigusr1) { log.reopen() }
            }
            // Until the daemon shuts down (or the service is cancelled).
            try? await gracefulShutdown()
            group.cancelAll()
        }
        let limit = Duration.seconds(10)
        if !(await log.stop(within: limit)) {
            logger.error("the decision log writer is stuck in a write after \(limit); the records it holds are lost")
        }
    }
}
