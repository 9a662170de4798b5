import Atomics
import MoatCore
import MoatIdentity
import MoatWire
import NIOCore
import Prometheus

/// Answers the frames of one data-socket connection: Check, CheckBatch and Ping. Pure apart from
/// the clock and the serving state it reads, so it is tested without a socket.
///
/// A deny is an answer like an allow (status 0); a non-zero status means "could not decide".
struct DataRequestProcessor {
    /// What the processor wants done with the connection after an answer.
    struct Reply {
        var frame: Frame
        /// Close the connection once the answer is written (framing errors).
        var closesConnection = false
    }

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

    /// The answer to one request frame, which arrived at `arrival`.
    mutating func answer(_ frame: Frame, arrival: NIODeadline, allocator: ByteBufferAllocator) -> Reply {
        let frames = RequestFrames(socket: .data, metrics: metrics)
        if let refused = frames.violation(frame, allocator) {
            return Reply(frame: refused.frame, closesConnection: refused.closesConnection)
        }
        do throws(StatusError) {
            let payload: ByteBuffer
            switch frame.method {
            case .check:
                let request = try frames.decode(CheckRequest.self, frame)
                payload = try frames.encode(try decide([request], arrival: arrival)[0], allocator)
            case .checkBatch:
                let batch = try frames.decode(CheckBatchRequest.self, frame)
                guard batch.requests.count <= CheckBatchRequest.maximumCount else {
                    metrics.countRefusal(.batchTooLarge)
                    throw StatusError(
                        code: .resourceExhausted,
                        message:
                            "a CheckBatch holds at most \(CheckBatchRequest.maximumCount) requests; this one has \(batch.requests.count)"
                    )
                }
                payload = try frames.encode(
                    CheckBatchResponse(decisions: try decide(batch.requests, arrival: arrival)),
                    allocator
                )
            case .ping:
                _ = try frames.decode(Ping.self, frame)
                let serving = store.serving
                payload = try frames.encode(Pong(ready: serving != nil, revision: serving?.revision), allocator)
            default:
                throw frames.unimplemented(frame.method)
            }
            return Reply(frame: RequestFrames.reply(frame, payload))
        } catch {
            return Reply(frame: RequestFrames.reply(frame, error, allocator))
        }
    }

    /// Decides requests in order, or says why they cannot be decided.
    private mutating func decide(_ requests: [CheckRequest], arrival: NIODeadline) throws(StatusError) -> [Decision] {
        guard !draining.load(ordering: .relaxed) else {
            throw undecided(.unavailable, "the daemon is shutting down")
        }
        guard let state = store.serving else {
            throw undecided(.unavailable, "no rules loaded")
        }
        let now = WallClock.seconds()
        let verifier = CachedTokenVerifier(cache: tokenCache, state: state, now: now)
        let context = EvaluationContext(now: now, trustsAssertedIdentity: trustsAssertedIdentity)
        var decisions: [Decision] = []
        decisions.reserveCapacity(requests.count)
        for request in requests {
            if request.timeoutMicros > 0,
                (NIODeadline.now() - arrival).nanoseconds / 1000 > Int64(clamping: request.timeoutMicros)
            {
                throw undecided(
                    .deadlineExceeded,
                    "the request's deadline of \(request.timeoutMicros) µs passed before it was evaluated"
                )
            }
            let decision = state.snapshot.evaluate(request, verifier: verifier, context: context)
            let duration = NIODeadline.now() - arrival
            metrics.countDecision(decision)
            metrics.checkDuration.record(.nanoseconds(duration.nanoseconds))
            if let decisionLog, decision.outcome == .deny || decisionLog.samplesAllow(nextRandom()) {
                decisionLog.submit(
                    DecisionLog.Record(
                        unixMillis: WallClock.millis(),
                        request: request,
                        decision: decision,
                        peer: peer,
                        durationMicros: duration.nanoseconds / 1000
                    )
                )
            }
            decisions.append(decision)
        }
        return decisions
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
