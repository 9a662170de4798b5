import MoatCore
import Prometheus

/// The daemon's metrics, in Prometheus text form through `Metrics` on the control socket
/// (`moatctl metrics`). Every instrument is created up front: the request path only increments.
public final class ServerMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry

    /// Checks decided, by decision and inner code (index: `Decision.InnerCode` position + 1, 0 = none).
    private let allowed: Counter
    private let denied: [Counter]
    let checkDuration: DurationHistogram
    /// Checks not decided (a transport status instead of a decision), by status name.
    private let undecided: [String: Counter]
    let snapshotSequence: Gauge
    let snapshotLoadedAt: Gauge
    let reloadSuccesses: Counter
    let reloadFailures: Counter
    let connectionsData: Gauge
    let connectionsControl: Gauge
    private let refusals: [Refusal: Counter]
    let decisionLogDropped: Counter
    let decisionLogWritten: Counter
    let tokenCacheHits: Counter
    let tokenCacheMisses: Counter

    /// Why a connection or a frame was refused.
    public enum Refusal: String, Sendable, CaseIterable {
        case frameTooLarge = "frame_too_large"
        case malformedFrame = "malformed_frame"
        case undecodablePayload = "undecodable_payload"
        case unknownMethod = "unknown_method"
        case batchTooLarge = "batch_too_large"
        case peerNotAllowed = "peer_not_allowed"
        case connectionLimit = "connection_limit"
        case idleTimeout = "idle_timeout"
        case partialFrameTimeout = "partial_frame_timeout"
    }

    public init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        let checks = "moat_checks_total"
        let checksHelp = "Checks decided, by decision and inner code."
        allowed = registry.makeCounter(
            name: checks,
            labels: [("decision", "allow"), ("inner_code", "")],
            help: checksHelp
        )
        denied =
            [registry.makeCounter(name: checks, labels: [("decision", "deny"), ("inner_code", "")], help: checksHelp)]
            + Decision.InnerCode.allCases.map {
                registry.makeCounter(
                    name: checks,
                    labels: [("decision", "deny"), ("inner_code", $0.rawValue)],
                    help: checksHelp
                )
            }
        checkDuration = registry.makeDurationHistogram(
            name: "moat_check_duration_seconds",
            labels: [],
            buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000].map { Duration.microseconds($0) },
            help: "Time from reading a check's frame to writing its answer."
        )
        undecided = Dictionary(
            uniqueKeysWithValues: [
                "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "UNIMPLEMENTED",
                "INTERNAL",
            ].map {
                (
                    $0,
                    registry.makeCounter(
                        name: "moat_checks_undecided_total",
                        labels: [("status", $0)],
                        help: "Checks answered with an error status instead of a decision."
                    )
                )
            }
        )
        snapshotSequence = registry.makeGauge(
            name: "moat_snapshot_sequence",
            help: "Sequence number of the serving revision."
        )
        snapshotLoadedAt = registry.makeGauge(
            name: "moat_snapshot_loaded_timestamp_seconds",
            help: "When the serving revision was accepted."
        )
        reloadSuccesses = registry.makeCounter(
            name: "moat_reloads_total",
            labels: [("result", "success")],
            help: "Rule documents accepted or refused."
        )
        reloadFailures = registry.makeCounter(
            name: "moat_reloads_total",
            labels: [("result", "failure")],
            help: "Rule documents accepted or refused."
        )
        connectionsData = registry.makeGauge(
            name: "moat_connections",
            labels: [("socket", "data")],
            help: "Open connections."
        )
        connectionsControl = registry.makeGauge(
            name: "moat_connections",
            labels: [("socket", "control")],
            help: "Open connections."
        )
        refusals = Dictionary(
            uniqueKeysWithValues: Refusal.allCases.map {
                (
                    $0,
                    registry.makeCounter(
                        name: "moat_refusals_total",
                        labels: [("reason", $0.rawValue)],
                        help: "Frames and connections refused."
                    )
                )
            }
        )
        decisionLogDropped = registry.makeCounter(
            name: "moat_decision_log_dropped_total",
            help: "Decision records dropped because the log's queue was full."
        )
        decisionLogWritten = registry.makeCounter(
            name: "moat_decision_log_written_total",
            help: "Decision records written."
        )
        tokenCacheHits = registry.makeCounter(
            name: "moat_token_cache_hits_total",
            help: "Tokens found verified in the cache."
        )
        tokenCacheMisses = registry.makeCounter(
            name: "moat_token_cache_misses_total",
            help: "Tokens verified (not found in the cache)."
        )
    }

    func countDecision(_ decision: Decision) {
        if decision.outcome == .allow {
            allowed.increment()
        } else {
            let index = decision.innerCode.map { Decision.InnerCode.allCases.firstIndex(of: $0)! + 1 } ?? 0
            denied[index].increment()
        }
    }

    func countUndecided(status name: String) {
        undecided[name]?.increment()
    }

    func countRefusal(_ refusal: Refusal) {
        refusals[refusal]!.increment()
    }

    /// The Prometheus text exposition of every metric.
    public func text() -> String {
        registry.emitToString()
    }
}
