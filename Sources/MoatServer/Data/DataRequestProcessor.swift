import Atomics
public import MoatCore
import MoatIdentity
public import MoatWire
public import NIOCore
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
        if let violation = frame.requestFlagViolation {
            return Reply(
                frame: failure(frame, violation.status, violation.description, allocator),
                closesConnection: violation.closesConnection
            )
        }
        switch frame.method {
        case .check:
            let request: CheckRequest
            do {
                request = try CheckRequest(wirePayload: frame.payload)
            } catch {
                metrics.countRefusal(.undecodablePayload)
                return Reply(frame: failure(frame, .invalidArgument, error.message, allocator))
            }
            let decided = decide([request], arrival: arrival)
            switch decided {
            case .success(let decisions):
                return Reply(
                    frame: respond(frame, allocator) { (payload: inout ByteBuffer) throws(MessageCodingError) in
                        try decisions[0].encode(into: &payload)
                    }
                )
            case .failure(let refusal):
                return Reply(frame: failure(frame, refusal.code, refusal.message, allocator))
            }
        case .checkBatch:
            let batch: CheckBatchRequest
            do {
                batch = try CheckBatchRequest(wirePayload: frame.payload)
            } catch {
                metrics.countRefusal(.undecodablePayload)
                return Reply(frame: failure(frame, .invalidArgument, error.message, allocator))
            }
            guard batch.requests.count <= CheckBatchRequest.maximumCount else {
                metrics.countRefusal(.batchTooLarge)
                return Reply(
                    frame: failure(
                        frame,
                        .resourceExhausted,
                        "a CheckBatch holds at most \(CheckBatchRequest.maximumCount) requests; this one has \(batch.requests.count)",
                        allocator
                    )
                )
            }
            switch decide(batch.requests, arrival: arrival) {
            case .success(let decisions):
                return Reply(
                    frame: respond(frame, allocator) { (payload: inout ByteBuffer) throws(MessageCodingError) in
                        try CheckBatchResponse(decisions: decisions).encode(into: &payload)
                    }
                )
            case .failure(let refusal):
                return Reply(frame: failure(frame, refusal.code, refusal.message, allocator))
            }
        case .ping:
            do {
                _ = try Ping(wirePayload: frame.payload)
            } catch {
                metrics.countRefusal(.undecodablePayload)
                return Reply(frame: failure(frame, .invalidArgument, error.message, allocator))
            }
            let serving = store.serving
            return Reply(
                frame: respond(frame, allocator) { (payload: inout ByteBuffer) throws(MessageCodingError) in
                    try Pong(ready: serving != nil, revision: serving?.revision).encode(into: &payload)
                }
            )
        default:
            metrics.countRefusal(.unknownMethod)
            let message =
                frame.method.socket == .control
                ? "\(frame.method) is served on the control socket, not the data socket"
                : "unknown method id \(frame.method.rawValue)"
            return Reply(frame: failure(frame, .unimplemented, message, allocator))
        }
    }

    /// Decides requests in order, or says why they cannot be decided.
    private mutating func decide(_ requests: [CheckRequest], arrival: NIODeadline) -> Result<[Decision], StatusError> {
        guard !draining.load(ordering: .relaxed) else {
            return .failure(undecided(.unavailable, "the daemon is shutting down"))
        }
        guard let state = store.serving else {
            return .failure(undecided(.unavailable, "no rules loaded"))
        }
        let now = WallClock.seconds()
        let verifier = CachedTokenVerifier(cache: tokenCache, state: state, now: now)
        let context = EvaluationContext(now: now, trustsAssertedIdentity: trustsAssertedIdentity)
        var decisions: [Decision] = []
        decisions.reserveCapacity(requests.count)
        for request in requests {
            let elapsed = NIODeadline.now() - arrival
            if request.timeoutMicros > 0 && elapsed.nanoseconds / 1000 > Int64(clamping: request.timeoutMicros) {
                return .failure(
                    undecided(
                        .deadlineExceeded,
                        "the request's deadline of \(request.timeoutMicros) µs passed before it was evaluated"
                    )
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
        return .success(decisions)
    }

    private func undecided(_ code: StatusCode, _ message: String) -> StatusError {
        metrics.countUndecided(status: code.name)
        return StatusError(code: code, message: message)
    }

    private mutating func nextRandom() -> UInt64 {
        sampling ^= sampling >> 12
        sampling ^= sampling << 25
        sampling ^= sampling >> 27
        return sampling &* 0x2545_f491_4f6c_dd1d
    }

    private func respond(
        _ request: Frame,
        _ allocator: ByteBufferAllocator,
        _ encode: (inout ByteBuffer) throws(MessageCodingError) -> Void
    ) -> Frame {
        var payload = allocator.buffer(capacity: 256)
        do {
            try encode(&payload)
        } catch {
            return failure(request, .internalError, "could not encode the answer: \(error.message)", allocator)
        }
        return Frame(respondingTo: request, status: .ok, payload: payload)
    }

    private func failure(
        _ request: Frame,
        _ code: StatusCode,
        _ message: String,
        _ allocator: ByteBufferAllocator
    ) -> Frame {
        Frame(
            respondingTo: request,
            status: code,
            payload: StatusError(code: code, message: message).payload(allocator)
        )
    }
}

extension StatusError {
    /// The error as a frame payload.
    func payload(_ allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64 + message.utf8.count)
        // An error message with a NUL cannot be encoded; say so rather than fail to answer.
        if (try? encode(into: &buffer)) == nil {
            buffer.clear()
            try? StatusError(code: code, message: "(the error message could not be encoded)").encode(into: &buffer)
        }
        return buffer
    }
}
