public import MoatCore
public import MoatWire
import NIOCore
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// The client services embed to ask Moat "may this caller do this?".
///
/// A small pool of pipelined connections to the daemon's data socket; every check has a deadline
/// (sent to the daemon too); a daemon that cannot be reached or does not answer in time gives
/// "could not decide", which the configured `FailurePolicy` turns into deny (the default) or allow.
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

    /// Decides one request. Never throws: a transport failure is a `CheckResult` that could not
    /// decide, resolved by the failure policy.
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
                return CheckResult(
                    error: .unreadableAnswer(error.message),
                    policy: configuration.failurePolicy
                )
            }
        } catch {
            return CheckResult(error: error, policy: configuration.failurePolicy)
        }
    }

    /// Decides many requests in one frame (at most `CheckBatchRequest.maximumCount`); the results
    /// are in the order of the requests.
    public func checkBatch(_ requests: [CheckRequest]) async -> [CheckResult] {
        let requests = requests.map { request in
            var request = request
            if request.timeoutMicros == 0 { request.timeoutMicros = configuration.deadline.microseconds }
            return request
        }
        // Batches larger than a frame the daemon accepts (or than 1024 requests) go as several
        // frames, pipelined; the answers are put back in order.
        let chunks = batches(of: requests)
        return await withTaskGroup(of: (Int, [CheckResult]).self) { group in
            for (index, chunk) in chunks.enumerated() {
                group.addTask { (index, await self.decideBatch(chunk)) }
            }
            var answers = [[CheckResult]](repeating: [], count: chunks.count)
            for await (index, results) in group { answers[index] = results }
            return answers.flatMap { $0 }
        }
    }

    /// Splits requests into batches that fit the daemon's frame limit and the 1024-request cap.
    private func batches(of requests: [CheckRequest]) -> [[CheckRequest]] {
        let budget = configuration.maximumRequestFrameLength - Frame.minimumLength
        var batches: [[CheckRequest]] = []
        var current: [CheckRequest] = []
        var size = 0
        for request in requests {
            var encoded = ByteBuffer()
            // A request that does not encode is refused in its batch, as the daemon would.
            let cost = ((try? request.encode(into: &encoded)) != nil ? encoded.readableBytes : 0) + 6
            if !current.isEmpty && (size + cost > budget || current.count == CheckBatchRequest.maximumCount) {
                batches.append(current)
                current = []
                size = 0
            }
            current.append(request)
            size += cost
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }

    private func decideBatch(_ requests: [CheckRequest]) async -> [CheckResult] {
        let failure: MoatClientError
        do {
            let payload = try await call(.checkBatch, CheckBatchRequest(requests: requests))
            let answer = try CheckBatchResponse(wirePayload: payload)
            guard answer.decisions.count == requests.count else {
                failure = MoatClientError(
                    code: .protocolViolation,
                    message: "the daemon answered \(answer.decisions.count) of \(requests.count) requests",
                    status: .internalError
                )
                return requests.map { _ in CheckResult(error: failure, policy: configuration.failurePolicy) }
            }
            if let revision = answer.decisions.first?.revision { cache?.observe(revision) }
            return answer.decisions.map { CheckResult(decision: $0, policy: configuration.failurePolicy) }
        } catch let error as MoatClientError {
            failure = error
        } catch let error as MessageCodingError {
            failure = .unreadableAnswer(error.message)
        } catch {
            failure = MoatClientError(code: .protocolViolation, message: "\(error)", status: .internalError)
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
            throw MoatClientError.unreadableAnswer(error.message)
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
