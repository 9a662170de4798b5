import Logging
import MoatCore
import Prometheus
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// The audit trail of decisions (SEMANTICS.md section 9), as JSON lines.
///
/// Checks hand a record to a bounded queue and return: denies always, allows sampled. A
/// background writer formats and writes them. When the queue is full the record is dropped and
/// counted; a check never waits for the log.
public final class DecisionLog: Sendable {
    /// One decision and what surrounded it.
    struct Record: Sendable {
        var unixMillis: Int64
        var request: CheckRequest
        var decision: Decision
        var peer: PeerCredentials?
        var durationMicros: Int64
    }

    public struct Configuration: Sendable {
        /// Where the JSON lines go: a file path, or `-` for standard error.
        public var destination: String
        /// The share of allow decisions logged, 0 to 1 (denies are always logged).
        public var allowSampleRate: Double
        /// Records waiting to be written before new ones are dropped.
        public var queueCapacity: Int

        public init(destination: String = "-", allowSampleRate: Double = 0.01, queueCapacity: Int = 16_384) {
            self.destination = destination
            self.allowSampleRate = allowSampleRate
            self.queueCapacity = queueCapacity
        }
    }

    private let stream: AsyncStream<Record>
    private let continuation: AsyncStream<Record>.Continuation
    let configuration: Configuration
    /// `allowSampleRate` as a threshold for a 64-bit random draw.
    private let allowThreshold: UInt64
    private let metrics: ServerMetrics

    public init(configuration: Configuration, metrics: ServerMetrics) {
        (stream, continuation) = AsyncStream.makeStream(
            of: Record.self,
            bufferingPolicy: .bufferingOldest(configuration.queueCapacity)
        )
        self.configuration = configuration
        let rate = min(max(configuration.allowSampleRate, 0), 1)
        allowThreshold = rate >= 1 ? .max : UInt64(rate * Double(UInt64.max))
        self.metrics = metrics
    }

    /// Whether an allow should be logged, given a random draw.
    func samplesAllow(_ draw: UInt64) -> Bool {
        draw < allowThreshold || allowThreshold == .max
    }

    /// Queues a record; drops and counts it when the queue is full. Never blocks.
    func submit(_ record: Record) {
        // The token is not logged: do not keep it alive in the queue.
        var record = record
        record.request.token = ""
        if case .dropped = continuation.yield(record) {
            metrics.decisionLogDropped.increment()
        }
    }

    /// Writes queued records until the stream ends (`finish()`), then returns.
    func write(logger: Logger) async {
        let fd: Int32
        if configuration.destination == "-" {
            fd = STDERR_FILENO
        } else {
            fd = open(configuration.destination, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            if fd < 0 {
                logger.error(
                    "cannot open decision log '\(configuration.destination)': \(RulesFile.describe(errno)); decisions are not logged"
                )
                for await _ in stream { metrics.decisionLogDropped.increment() }
                return
            }
        }
        defer { if fd != STDERR_FILENO { close(fd) } }
        for await record in stream {
            var line = Self.json(record).serialized(.compact)
            line += "\n"
            line.withUTF8 { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        break
                    }
                    offset += written
                }
            }
            metrics.decisionLogWritten.increment()
        }
    }

    /// Ends the stream: the writer drains what is queued and returns.
    func finish() {
        continuation.finish()
    }

    /// The audit fields of SEMANTICS.md section 9.
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
        return .object([
            ("time", .string(Timestamp.iso8601(millis: record.unixMillis))),
            ("correlationId", text(request.requestId)),
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
        ])
    }
}

/// The decision log's writer as a service: runs until the daemon shuts down, then drains.
struct DecisionLogWriter: Service {
    let log: DecisionLog
    let logger: Logger

    func run() async throws {
        await withGracefulShutdownHandler {
            await log.write(logger: logger)
        } onGracefulShutdown: {
            log.finish()
        }
    }
}
