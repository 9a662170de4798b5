/// What a check needs besides the request and the snapshot: the time, and what is known about
/// the local peer that sent it.
public struct EvaluationContext: Sendable, Hashable {
    /// Unix time in seconds, for token lifetimes.
    public var now: Int64
    /// Whether the peer may send `assertedIdentity` instead of a token (`docs/semantics.md`, "Stage 1: authentication").
    public var trustsAssertedIdentity: Bool

    public init(now: Int64, trustsAssertedIdentity: Bool = false) {
        self.now = now
        self.trustsAssertedIdentity = trustsAssertedIdentity
    }
}
