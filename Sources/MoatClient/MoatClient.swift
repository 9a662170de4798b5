public import MoatCore
public import MoatWire
import NIOCore
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// The client services embed to ask Moat "may this caller do this?".
///
/// A small pool of pipelined connections to the daemon's data socket; every check has a deadline
/// (sent to the daemon too). A check that gets no decision "could not decide": it is a deny,
/// unless the daemon was unavailable (unreachable, the connection closed, no answer in time,
/// UNAVAILABLE) and the configured `FailurePolicy` is `.open`. A request the client cannot send
/// (it does not encode, its frame is over the daemon's limit) or the daemon refuses
/// (INVALID_ARGUMENT, RESOURCE_EXHAUSTED), and a daemon failure (INTERNAL, an unreadable answer),
/// are denies whatever the policy (see `MoatClientError.Fault`).
///
/// ```swift
/// try await withMoatClient(socketPath: "/run/moat/moat.sock") { moat in
///     let result = await moat.check(CheckRequest(vault: "contoso-prod", operation: .getSecret, token: jwt))
///     guard result.isAllowed else { return deny(result) }
///     …
/// }
/// ```
public final class MoatClient: Service, Sendable {
    public let socketPath: String
    public let configuration: Configuration
    private let group: any EventLoopGroup
    private let slots: [ConnectionSlot]
    private let next = Atomic<Int>(0)
    private let cache: DecisionCache?

    /// A client for the daemon at `socketPath`. Connections are made on first use. Run it as a
    /// service (``run()``) so that they are closed at shutdown, or use ``withMoatClient(socketPath:configuration:_:)``.
    public convenience init(socketPath: String, configuration: Configuration = .init()) {
        self.init(socketPath: socketPath, configuration: configuration, group: MultiThreadedEventLoopGroup.singleton)
    }

    init(socketPath: String, configuration: Configuration, group: any EventLoopGroup) {
        self.socketPath = socketPath
        self.configuration = configuration
        self.group = group
        let cache = configuration.decisionCache.map { DecisionCache(configuration: $0) }
        self.cache = cache
        self.slots = (0..<max(1, configuration.connections)).map { _ in ConnectionSlot { cache?.reset() } }
    }

    /// Decides one request. Never throws: a failure is a `CheckResult` that could not decide,
    /// resolved by the failure policy when the daemon was unavailable and a deny otherwise. A
    /// request whose frame would be over `Configuration.maximumRequestFrameLength` is refused
    /// without being sent, so that the daemon does not close a connection other checks share.
    public func check(_ request: CheckRequest) async -> CheckResult {
        let key = cache.map { _ in DecisionCache.Key(request) }
        if let key, let cached = cache?.decision(for: key) {
            return CheckResult(decision: cached, policy: configuration.failurePolicy, cached: true)
        }
        var request = request
        if request.timeoutMicros == 0 { request.timeoutMicros = configuration.deadline.microseconds }
        do {
            let payload = try await call(.check, request)
            do {
                let decision = try Decision(wirePayload: payload)
                if let key { cache?.store(decision, for: key) }
                return CheckResult(decision: decision, policy: configuration.failurePolicy)
            } catch {
                return CheckResult(error: .unreadableAnswer(error), policy: configuration.failurePolicy)
            }
        } catch {
            return CheckResult(error: error, policy: configuration.failurePolicy)
        }
    }

    /// Decides many requests in one frame (at most `CheckBatchRequest.maximumCount`); the results
    /// are in the order of the requests, each its own outcome: a request the daemon could not
    /// decide (it does not decode, its deadline passed) fails alone.
    public func checkBatch(_ requests: [CheckRequest]) async -> [CheckResult] {
        let requests = requests.map { request in
            var request = request
            if request.timeoutMicros == 0 { request.timeoutMicros = configuration.deadline.microseconds }
            return request
        }
        // Batches larger than a frame the daemon accepts (or than 1024 requests) go as several
        // frames, pipelined; the answers are put back in order. A request that cannot be sent
        // (it does not encode, or is too large for a frame on its own) is refused here, alone.
        let plan = plan(requests)
        var results = plan.refused.mapValues { CheckResult(error: $0, policy: configuration.failurePolicy) }
        await withTaskGroup(of: ([Int], [CheckResult]).self) { group in
            for batch in plan.batches {
                group.addTask { (batch, await self.decideBatch(batch.map { requests[$0] })) }
            }
            for await (indices, answers) in group {
                for (index, answer) in zip(indices, answers) { results[index] = answer }
            }
        }
        return requests.indices.map { results[$0]! }
    }

    /// Which requests go in which batch (their indices), so that every batch fits the daemon's
    /// frame limit and the 1024-request cap; and the requests refused without being sent.
    private func plan(_ requests: [CheckRequest]) -> (batches: [[Int]], refused: [Int: MoatClientError]) {
        let budget = configuration.maximumRequestFrameLength - Frame.minimumLength
        var batches: [[Int]] = []
        var refused: [Int: MoatClientError] = [:]
        var current: [Int] = []
        var size = 0
        for (index, request) in requests.enumerated() {
            var encoded = ByteBuffer()
            do {
                try request.encode(into: &encoded)
            } catch {
                refused[index] = .unencodable(error)
                continue
            }
            // In the batch: the field's tag (1 byte), the item's length (a varint), the item.
            let length = encoded.readableBytes
            let cost = 1 + (Int.bitWidth - length.leadingZeroBitCount + 6) / 7 + length
            do throws(MoatClientError) {
                try MoatConnection.refuseOversized(
                    frameLength: Frame.minimumLength + cost,
                    limit: configuration.maximumRequestFrameLength
                )
            } catch {
                refused[index] = error
                continue
            }
            if !current.isEmpty && (size + cost > budget || current.count == CheckBatchRequest.maximumCount) {
                batches.append(current)
                current = []
                size = 0
            }
            current.append(index)
            size += cost
        }
        if !current.isEmpty { batches.append(current) }
        return (batches, refused)
    }

    private func decideBatch(_ requests: [CheckRequest]) async -> [CheckResult] {
        let failure: MoatClientError
        do {
            let payload = try await call(.checkBatch, CheckBatchRequest(requests: requests))
            let answer = try CheckBatchResponse(wirePayload: payload)
            guard answer.items.count == requests.count else {
                failure = MoatClientError(
                    code: .protocolViolation,
                    message: "the daemon answered \(answer.items.count) of \(requests.count) requests",
                    status: .internalError
                )
                return requests.map { _ in CheckResult(error: failure, policy: configuration.failurePolicy) }
            }
            return answer.items.map { item in
                switch item {
                case .decision(let decision):
                    cache?.observe(decision.revision)
                    return CheckResult(decision: decision, policy: configuration.failurePolicy)
                case .error(let error):
                    return CheckResult(error: MoatClientError(error), policy: configuration.failurePolicy)
                }
            }
        } catch let error as MoatClientError {
            failure = error
        } catch {
            failure = .unreadableAnswer(error)
        }
        return requests.map { _ in CheckResult(error: failure, policy: configuration.failurePolicy) }
    }

    /// Whether the daemon is up and has rules, and which revision it serves.
    public func ping() async throws(MoatClientError) -> Pong {
        let payload = try await call(.ping, Ping())
        do {
            let pong = try Pong(wirePayload: payload)
            if let revision = pong.revision { cache?.observe(revision) }
            return pong
        } catch {
            throw MoatClientError.unreadableAnswer(error)
        }
    }

    private func call(_ method: MethodID, _ message: some WireMessage) async throws(MoatClientError) -> ByteBuffer {
        let deadline = NIODeadline.now() + TimeAmount(configuration.deadline)
        let slot = slots[next.wrappingAdd(1, ordering: .relaxed).oldValue % slots.count]
        let connection = try await slot.connection(
            socketPath: socketPath,
            group: group,
            configuration: configuration
        )
        return try await connection.call(method, message, deadline: deadline)
    }

    /// Serves until graceful shutdown (swift-service-lifecycle), then closes the connections.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Closes every connection.
    func shutdown() async {
        for slot in slots { await slot.close() }
    }
}

/// Runs `body` with a client for the daemon at `socketPath`, and closes the client's connections
/// when `body` returns. Connections are made on first use and remade (with backoff) when the
/// daemon restarts.
public func withMoatClient<Result>(
    socketPath: String,
    configuration: MoatClient.Configuration = .init(),
    _ body: (MoatClient) async throws -> Result
) async rethrows -> Result {
    let client = MoatClient(
        socketPath: socketPath,
        configuration: configuration,
        group: MultiThreadedEventLoopGroup.singleton
    )
    do {
        let result = try await body(client)
        await client.shutdown()
        return result
    } catch {
        await client.shutdown()
        throw error
    }
}

extension Duration {
    /// Whole microseconds (0 for a negative duration, saturating for a huge one).
    var microseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000)
        return overflow ? .max : whole &+ UInt64(max(0, attoseconds) / 1_000_000_000_000)
    }
}
