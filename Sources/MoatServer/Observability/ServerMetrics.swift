import MoatCore
import MoatWire
import Prometheus

/// The daemon's metrics, in Prometheus text form through `Metrics` on the control socket
/// (`moatctl metrics`). Every instrument is created up front: the request path only increments.
final class ServerMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry

    /// Checks decided, by decision and inner code (index: `Decision.InnerCode` position + 1, 0 = none).
    private let allowed: Counter
    private let denied: [Counter]
    private static let position = Dictionary(
        uniqueKeysWithValues: Decision.InnerCode.allCases.enumerated().map { ($1, $0) }
    )
    let checkDuration: DurationHistogram
    /// Checks not decided (a transport status instead of a decision).
    private let undecidedUnavailable: Counter
    private let undecidedDeadline: Counter
    let snapshotSequence: Gauge
    let snapshotLoadedAt: Gauge
    /// When the rules source last confirmed the rules are current (`RuleUpdater.noteSourceConfirmed()`).
    let rulesConfirmedAt: Gauge
    /// 1 while the etcd source's rules may be behind etcd (docs/etcd.md), 0 otherwise.
    let rulesStale: Gauge
    let reloadSuccesses: Counter
    let reloadFailures: Counter
    let connectionsData: Gauge
    let connectionsControl: Gauge
    private let refusals: [Refusal: Counter]
    let decisionLogDropped: Counter
    let decisionLogWritten: Counter
    let decisionLogRotations: Counter
    let tokenCacheHits: Counter
    let tokenCacheMisses: Counter
    /// Checks the shadow candidate judged too (docs/protocol.md, "Shadow rule sets"), and those it
    /// would change, by change.
    let shadowCompared: Counter
    private let shadowChanges: [ShadowGroup.Change: Counter]

    /// Why a connection or a frame was refused.
    enum Refusal: String, Sendable, CaseIterable {
        case frameTooLarge = "frame_too_large"
        case malformedFrame = "malformed_frame"
        case undecodablePayload = "undecodable_payload"
        case unknownMethod = "unknown_method"
        case batchTooLarge = "batch_too_large"
        case peerNotAllowed = "peer_not_allowed"
        case connectionLimit = "connection_limit"
        /// A data connection over `--max-connections-per-uid` for its peer's uid.
        case connectionLimitPerUID = "connection_limit_per_uid"
        /// A connection whose peer credentials (SO_PEERCRED) could not be read.
        case peerCredentialsUnreadable = "peer_credentials_unreadable"
        /// A control connection over `--max-control-connections`.
        case controlConnectionLimit = "control_connection_limit"
        case idleTimeout = "idle_timeout"
        case partialFrameTimeout = "partial_frame_timeout"
    }

    init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        func name(_ metric: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "moat", metricName: metric, unitName: unit, helpText: help)
        }
        let checks = name("checks", unit: "total", "Checks decided, by decision and inner code.")
        allowed = registry.makeCounter(descriptor: checks, labels: [("decision", "allow"), ("inner_code", "")])
        denied = ([nil] + Decision.InnerCode.allCases).map {
            registry.makeCounter(
                descriptor: checks,
                labels: [("decision", "deny"), ("inner_code", $0?.rawValue ?? "")]
            )
        }
        checkDuration = registry.makeDurationHistogram(
            descriptor: name(
                "check_duration",
                unit: "seconds",
                "Time from reading a check's frame to writing its answer."
            ),
            buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000].map { Duration.microseconds($0) }
        )
        let undecided = name(
            "checks_undecided",
            unit: "total",
            "Checks answered with an error status instead of a decision."
        )
        undecidedUnavailable = registry.makeCounter(descriptor: undecided, labels: [("status", "UNAVAILABLE")])
        undecidedDeadline = registry.makeCounter(descriptor: undecided, labels: [("status", "DEADLINE_EXCEEDED")])
        snapshotSequence = registry.makeGauge(
            descriptor: name("snapshot_sequence", "Sequence number of the serving revision.")
        )
        snapshotLoadedAt = registry.makeGauge(
            descriptor: name("snapshot_loaded_timestamp", unit: "seconds", "When the serving revision was accepted.")
        )
        rulesConfirmedAt = registry.makeGauge(
            descriptor: name(
                "rules_confirmed_timestamp",
                unit: "seconds",
                "When the rules source last confirmed the serving rules are current (age: time() minus this)."
            )
        )
        rulesStale = registry.makeGauge(
            descriptor: name(
                "rules_stale",
                "1 while the rules served may be behind the etcd source (from the cache, or the watch lost)."
            )
        )
        let reloads = name("reloads", unit: "total", "Rule documents accepted or refused.")
        reloadSuccesses = registry.makeCounter(descriptor: reloads, labels: [("result", "success")])
        reloadFailures = registry.makeCounter(descriptor: reloads, labels: [("result", "failure")])
        let connections = name("connections", "Open connections.")
        connectionsData = registry.makeGauge(descriptor: connections, labels: [("socket", "data")])
        connectionsControl = registry.makeGauge(descriptor: connections, labels: [("socket", "control")])
        let refused = name("refusals", unit: "total", "Frames and connections refused.")
        refusals = Dictionary(
            uniqueKeysWithValues: Refusal.allCases.map {
                ($0, registry.makeCounter(descriptor: refused, labels: [("reason", $0.rawValue)]))
            }
        )
        decisionLogDropped = registry.makeCounter(
            descriptor: name(
                "decision_log_dropped",
                unit: "total",
                "Decision records dropped because the log's queue was full."
            )
        )
        decisionLogWritten = registry.makeCounter(
            descriptor: name("decision_log_written", unit: "total", "Decision records written.")
        )
        decisionLogRotations = registry.makeCounter(
            descriptor: name("decision_log_rotations", unit: "total", "Decision log files rotated to PATH.1.")
        )
        tokenCacheHits = registry.makeCounter(
            descriptor: name("token_cache_hits", unit: "total", "Tokens found verified in the cache.")
        )
        tokenCacheMisses = registry.makeCounter(
            descriptor: name("token_cache_misses", unit: "total", "Tokens verified (not found in the cache).")
        )
        shadowCompared = registry.makeCounter(
            descriptor: name("shadow_compared", unit: "total", "Checks the shadow candidate also decided.")
        )
        let shadowChanged = name(
            "shadow_changes",
            unit: "total",
            "Checks the shadow candidate decides otherwise: allow_to_deny, deny_to_allow (flips) or reason."
        )
        let changeLabels: [(ShadowGroup.Change, String)] = [
            (.allowToDeny, "allow_to_deny"), (.denyToAllow, "deny_to_allow"), (.reason, "reason"),
        ]
        shadowChanges = Dictionary(
            uniqueKeysWithValues: changeLabels.map { change in
                (change.0, registry.makeCounter(descriptor: shadowChanged, labels: [("change", change.1)]))
            }
        )
    }

    func countDecision(_ decision: Decision) {
        if decision.outcome == .allow {
            allowed.increment()
        } else {
            denied[decision.innerCode.map { Self.position[$0]! + 1 } ?? 0].increment()
        }
    }

    func countShadowChange(_ change: ShadowGroup.Change) {
        shadowChanges[change]!.increment()
    }

    /// A check answered UNAVAILABLE (not ready, draining) or DEADLINE_EXCEEDED.
    func countUndecided(_ code: StatusCode) {
        (code == .deadlineExceeded ? undecidedDeadline : undecidedUnavailable).increment()
    }

    func countRefusal(_ refusal: Refusal) {
        refusals[refusal]!.increment()
    }

    /// Decision records dropped from one peer (`uid` empty: a peer without credentials), counted
    /// by the decision log's writer when it reports them; the labels are the uids seen dropping.
    func countDecisionLogDrops(uid: String, count: UInt64) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "moat",
                metricName: "decision_log_peer_dropped",
                unitName: "total",
                helpText: "Decision records dropped, by the peer uid that submitted them."
            ),
            labels: [("uid", uid)]
        ).increment(by: Int64(clamping: count))
    }

    /// A key-set fetch (or `jwksFile` read) for a tenant with a key source, by result: `success`,
    /// `not_modified` (HTTP 304), `invalid` (refused, not applied) or `failure` (not fetched).
    func countKeyFetch(tenant: String, result: String) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "moat",
                metricName: "key_fetches",
                unitName: "total",
                helpText: "Key-set fetches and jwksFile reads, by tenant and result."
            ),
            labels: [("tenant", tenant), ("result", result)]
        ).increment()
    }

    private static var keySetAge: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "moat",
            metricName: "key_set_age",
            unitName: "seconds",
            helpText: "Time since each tenant's key set was fetched or last confirmed current."
        )
    }

    func setKeySetAge(tenant: String, seconds: Double) {
        registry.makeGauge(descriptor: Self.keySetAge, labels: [("tenant", tenant)]).set(seconds)
    }

    /// A tenant that no longer has a key source.
    func removeKeySetAge(tenant: String) {
        registry.unregisterGauge(registry.makeGauge(descriptor: Self.keySetAge, labels: [("tenant", tenant)]))
    }

    /// The Prometheus text exposition of every metric.
    func text() -> String {
        registry.emitToString()
    }
}
