public import MoatCore

/// The answer to a check, as a caller uses it: allowed or not, and why.
///
/// A decision (allow or deny) came from the daemon. "Could not decide" means no decision came. When
/// the daemon was unavailable (unreachable, connection closed, deadline passed, not ready:
/// `MoatClientError.Fault.availability`) the client's failure policy says whether `isAllowed` is
/// false (closed, the default) or true (open, flagged by `failedOpen`). Any other failure (the
/// request could not be sent or was refused, the daemon failed) is a deny whatever the policy: a
/// caller must not be able to turn its own bad input into an allow.
public struct CheckResult: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        case decided(Decision)
        case couldNotDecide(MoatClientError)
    }

    public let outcome: Outcome
    public let policy: MoatClient.FailurePolicy
    /// True when the decision came from the client's decision cache, not from the daemon.
    public let isCached: Bool

    init(decision: Decision, policy: MoatClient.FailurePolicy, cached: Bool = false) {
        self.outcome = .decided(decision)
        self.policy = policy
        self.isCached = cached
    }

    init(error: MoatClientError, policy: MoatClient.FailurePolicy) {
        self.outcome = .couldNotDecide(error)
        self.policy = policy
        self.isCached = false
    }

    /// Whether the caller may proceed.
    public var isAllowed: Bool {
        switch outcome {
        case .decided(let decision): decision.outcome == .allow
        case .couldNotDecide: failedOpen
        }
    }

    /// The daemon's decision, when there was one.
    public var decision: Decision? {
        if case .decided(let decision) = outcome { return decision }
        return nil
    }

    /// Why no decision came, when none did.
    public var error: MoatClientError? {
        if case .couldNotDecide(let error) = outcome { return error }
        return nil
    }

    /// True when the request is allowed only because the daemon was unavailable and the failure
    /// policy is open.
    public var failedOpen: Bool {
        if case .couldNotDecide(let error) = outcome { return policy == .open && error.fault == .availability }
        return false
    }
}
