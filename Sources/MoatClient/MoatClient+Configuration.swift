import MoatWire

extension MoatClient {
    /// How a `MoatClient` talks to the daemon and what it does when it cannot get an answer.
    public struct Configuration: Sendable {
        /// Connections kept to the daemon; calls are spread over them and pipelined on each.
        public var connections = 2
        /// How long a call may take, from the caller's point of view; sent to the daemon as the
        /// request's timeout.
        public var deadline: Duration = .milliseconds(200)
        /// What "could not decide" means to the caller.
        public var failurePolicy = FailurePolicy.closed
        /// The first wait before reconnecting after the daemon could not be reached; doubled (with
        /// jitter) after each failed attempt, up to `maximumReconnectBackoff`.
        public var initialReconnectBackoff: Duration = .milliseconds(10)
        public var maximumReconnectBackoff: Duration = .seconds(2)
        /// The largest request frame (its length field N) the daemon accepts (`moatd
        /// --max-frame-bytes`, 64 KiB by default): larger batches are sent as several frames, and a
        /// check whose frame alone is larger is refused without being sent
        /// (`MoatClientError.Code.requestRefused`, RESOURCE_EXHAUSTED, a deny): the daemon would
        /// close the connection, failing the checks pipelined on it.
        public var maximumRequestFrameLength = SocketKind.data.defaultMaximumFrameLength
        /// The largest answer frame accepted (a full batch answer exceeds the daemon's 64 KiB
        /// request limit).
        public var maximumAnswerFrameLength = 16 * 1024 * 1024
        /// Reuse recent decisions for identical requests (off by default); see `DecisionCacheConfiguration`.
        public var decisionCache: DecisionCacheConfiguration?

        public init() {}
    }

    /// What a check that could not be decided because the daemon was unavailable (unreachable,
    /// connection closed, deadline passed, daemon not ready) means to the caller. Every other
    /// failure (the request could not be sent or was refused, the daemon failed, its answer could
    /// not be read) is a deny under both policies (`MoatClientError.Fault`).
    public enum FailurePolicy: Sendable, Hashable {
        /// Treat it as a deny (the default).
        case closed
        /// Treat an availability failure as an allow. The result says it failed open.
        case open
    }
}
