import Atomics
import MoatCore
import MoatIdentity
import MoatKeyVaultHTTP
import MoatWire
import NIOCore
import Prometheus

/// Answers the frames of one data-socket connection: Check, CheckBatch and Ping. Pure apart from
/// the clock (`clock`) and the serving state it reads, so it is tested without a socket.
///
/// A deny is an answer like an allow (status 0); a non-zero status means "could not decide".
struct DataRequestProcessor {
    let store: RuleStore
    let tokenCache: TokenCache
    let metrics: ServerMetrics
    let decisionLog: DecisionLog?
    let draining: ManagedAtomic<Bool>
    let peer: PeerCredentials?
    /// Whether this connection's peer may send asserted identities.
    let trustsAssertedIdentity: Bool
    /// Random state for sampling allows into the decision log (xorshift64*).
    var sampling: UInt64
    /// The time requests are decided at, in seconds since the epoch: the wall clock. Tests set
    /// another, in-process only: the daemon has no flag for it.
    var clock: @Sendable () -> Int64 = WallClock.seconds
    /// The connection's last verified token and its fingerprint (`TokenMemo`). The memos are
    /// objects: a copy of the processor shares them, so each connection makes its own processor
    /// (`DataServer`, `EnvoyAuthorizationService.processor(on:)`) and never copies it.
    let tokenMemo = TokenMemo()
    /// The connection's last answer to a Check (`CheckAnswerMemo`).
    let answerMemo = CheckAnswerMemo()

    /// Appends the answer to one request frame, which arrived at `arrival`, to `out`: its message
    /// packed once, straight after the frame header. Returns whether the connection closes once
    /// the answer is written (framing errors).
    mutating func answer(_ frame: Frame, arrival: NIODeadline, into out: inout ByteBuffer) -> Bool {
        let frames = RequestFrames(socket: .data, metrics: metrics)
        if let refused = frames.violation(frame) {
            RequestFrames.write(refused.error, answering: frame, into: &out)
            return refused.closesConnection
        }
        do throws(StatusError) {
            switch frame.method {
            case .check:
                let request = try frames.decode(frame) { payload throws(MessageCodingError) in
                    try CheckRequest(wirePayload: payload, reusingToken: tokenMemo.lastTokenField)
                }
                let evaluation = try evaluation(arrival: arrival)
                switch decide(request, evaluation) {
                case .decision(let decision): try answerMemo.write(decision, answering: frame, into: &out, frames)
                case .error(let error): throw error
                }
            case .checkBatch:
                let items = try batchItems(frame)
                let evaluation = try evaluation(arrival: arrival)
                let answers = items.map { item -> CheckBatchResponse.Item in
                    switch item {
                    case .success(let request):
                        return decide(request, evaluation)
                    case .failure(let error):
                        // This request alone is refused; the others of the batch are decided.
                        metrics.countRefusal(.undecodablePayload)
                        return .error(StatusError(code: .invalidArgument, message: error.message))
                    }
                }
                try frames.write(CheckBatchResponse(items: answers), answering: frame, into: &out)
            case .ping:
                _ = try frames.decode(Ping.self, frame)
                let serving = store.serving
                try frames.write(Pong(ready: serving != nil, revision: serving?.revision), answering: frame, into: &out)
            default:
                throw frames.unimplemented(frame.method)
            }
        } catch {
            RequestFrames.write(error, answering: frame, into: &out)
        }
        return false
    }

    /// The requests of a CheckBatch, each decoded or refused on its own. Too many requests
    /// (counted before anything is unpacked) is RESOURCE_EXHAUSTED; a payload that is not a
    /// batch is INVALID_ARGUMENT.
    private func batchItems(_ frame: Frame) throws(StatusError) -> [Result<CheckRequest, MessageCodingError>] {
        do {
            return try CheckBatchRequest.items(wirePayload: frame.payload)
        } catch  where error.code == .tooManyItems {
            metrics.countRefusal(.batchTooLarge)
            throw StatusError(code: .resourceExhausted, message: error.message)
        } catch {
            metrics.countRefusal(.undecodablePayload)
            throw StatusError(code: .invalidArgument, message: error.message)
        }
    }

    /// What deciding needs, once per frame; or why nothing can be decided now (draining, no
    /// rules, or rules the stale-rules guard refuses: `RulesFreshness`).
    private func evaluation(arrival: NIODeadline) throws(StatusError) -> Evaluation {
        guard !draining.load(ordering: .relaxed) else {
            throw undecided(.unavailable, "the daemon is shutting down")
        }
        guard let state = store.serving else {
            throw undecided(.unavailable, "no rules loaded")
        }
        let now = clock()
        if let stale = store.freshness.refusal(nowSeconds: now) {
            throw undecided(.unavailable, stale)
        }
        return Evaluation(
            state: state,
            verifier: CachedTokenVerifier(cache: tokenCache, state: state, now: now, memo: tokenMemo),
            context: EvaluationContext(now: now, trustsAssertedIdentity: trustsAssertedIdentity),
            arrival: arrival,
            shadow: store.shadow.candidate
        )
    }

    /// What the requests of one frame are decided with: one snapshot, one clock reading.
    private struct Evaluation {
        let state: ServingState
        let verifier: CachedTokenVerifier
        let context: EvaluationContext
        let arrival: NIODeadline
        /// The shadow candidate that also judges the checks (docs/protocol.md, "Shadow rule sets").
        let shadow: ShadowCandidate?
    }

    /// One check that did not arrive in a frame (the Envoy service, docs/envoy.md), decided on the
    /// same path as a Check frame and logged with `decisionId`. Could not decide (draining, no
    /// rules, deadline) is the error. A request the HTTP mapping refused (`refusal`) is decided as
    /// that 400 on the serving snapshot, counted and logged like any decision.
    mutating func check(
        _ request: CheckRequest,
        refusal: HTTPMappingError?,
        arrival: NIODeadline,
        decisionId: String
    ) -> Result<Decision, StatusError> {
        let evaluation: Evaluation
        do throws(StatusError) {
            evaluation = try self.evaluation(arrival: arrival)
        } catch {
            return .failure(error)
        }
        if let refusal {
            let decision = refusal.decision(revision: evaluation.state.revision)
            record(request, decision, duration: NIODeadline.now() - arrival, decisionId: decisionId)
            return .success(decision)
        }
        switch decide(request, evaluation, decisionId: decisionId) {
        case .decision(let decision): return .success(decision)
        case .error(let error): return .failure(error)
        }
    }

    /// The decision on `request`, or DEADLINE_EXCEEDED when its deadline passed before it was
    /// evaluated (that request alone, in a batch).
    private mutating func decide(
        _ request: CheckRequest,
        _ evaluation: Evaluation,
        decisionId: String? = nil
    ) -> CheckBatchResponse.Item {
        if request.timeoutMicros > 0,
            (NIODeadline.now() - evaluation.arrival).nanoseconds / 1000 > Int64(clamping: request.timeoutMicros)
        {
            return .error(
                undecided(
                    .deadlineExceeded,
                    "the request's deadline of \(request.timeoutMicros) µs passed before it was evaluated"
                )
            )
        }
        let decision = evaluation.state.snapshot.evaluate(
            request,
            verifier: evaluation.verifier,
            context: evaluation.context
        )
        let duration = NIODeadline.now() - evaluation.arrival
        record(request, decision, duration: duration, decisionId: decisionId)
        if let shadow = evaluation.shadow, shadow.samples(nextRandom()) {
            // Decided again by the candidate's judge, off this path.
            shadow.judge.submit(
                ShadowJudge.Check(
                    candidate: shadow,
                    serving: evaluation.state,
                    request: request,
                    decision: decision,
                    context: evaluation.context,
                    unixMillis: WallClock.millis(),
                    durationMicros: duration.nanoseconds / 1000,
                    peer: peer,
                    decisionId: decisionId,
                    decisionLog: decisionLog
                )
            )
        }
        return .decision(decision)
    }

    /// Counts a decision, records its duration and submits it to the decision log (every deny, a
    /// sample of the allows).
    private mutating func record(
        _ request: CheckRequest,
        _ decision: Decision,
        duration: TimeAmount,
        decisionId: String?
    ) {
        metrics.countDecision(decision)
        metrics.checkDuration.record(.nanoseconds(duration.nanoseconds))
        if let decisionLog, decision.outcome == .deny || decisionLog.samplesAllow(nextRandom()) {
            decisionLog.submit(
                DecisionLog.Record(
                    unixMillis: WallClock.millis(),
                    request: request,
                    decision: decision,
                    peer: peer,
                    durationMicros: duration.nanoseconds / 1000,
                    decisionId: decisionId
                )
            )
        }
    }

    private func undecided(_ code: StatusCode, _ message: String) -> StatusError {
        metrics.countUndecided(code)
        return StatusError(code: code, message: message)
    }

    private mutating func nextRandom() -> UInt64 {
        sampling ^= sampling >> 12
        sampling ^= sampling << 25
        sampling ^= sampling >> 27
        return sampling &* 0x2545_f491_4f6c_dd1d
    }
}
