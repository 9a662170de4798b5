import GRPCCore
import GRPCNIOTransportHTTP2Posix
package import MoatWire
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// A client of etcd's v3 gRPC API (KV, Watch, Lease, Auth; docs/etcd.md, "The client"), on
/// grpc-swift's HTTP/2 transport with protobuf-c messages (proto/etcd).
///
/// Every endpoint of the cluster gets its own connection. A call goes to the endpoint that last
/// answered; when that one is unavailable (down, unreachable, without a leader, too slow) the call
/// is made on the next, each endpoint once, and the one that answered becomes the current one. A
/// watch or keep-alive stream runs on the current endpoint; when it fails, the next one is current
/// and the caller opens a new stream.
///
/// With a user configured, the client authenticates before its first call and again when etcd says
/// the token is no longer valid; the token travels in the `token` metadata, as etcd expects.
///
/// `run()` keeps the connections until `shutdown()`; calls made before it runs wait for it.
package final class EtcdClient: Sendable {
    private typealias Client = GRPCClient<HTTP2ClientTransport.Posix>

    /// One endpoint, and the connection (a `GRPCClient` of its own) new calls and streams go to.
    ///
    /// etcd's gRPC server sends a PING (to estimate the bandwidth for its flow control) for nearly
    /// every request it reads, and swift-nio-http2 closes a connection that receives more than 200
    /// PING and SETTINGS frames in 30 s (its flood guard, which grpc-swift does not let a client
    /// raise). So a connection takes at most `callsPerConnection` calls: then a new one takes
    /// over, and the old one closes once its calls and streams have ended.
    private final class Member: Sendable {
        let endpoint: EtcdConfiguration.Endpoint
        private let makeTransport: @Sendable () throws -> HTTP2ClientTransport.Posix
        private let current: NIOLockedValueBox<(client: Client, calls: Int)>

        init(
            _ endpoint: EtcdConfiguration.Endpoint,
            _ makeTransport: @escaping @Sendable () throws -> HTTP2ClientTransport.Posix
        ) throws {
            self.endpoint = endpoint
            self.makeTransport = makeTransport
            current = NIOLockedValueBox((Client(transport: try makeTransport()), 0))
        }

        /// The connection for one more call or stream; a new one (handed to `start`, which says
        /// whether it runs) once the current one has taken `callsPerConnection`.
        func client(start: (Client) -> Bool) -> Client {
            let (client, retired) = current.withLockedValue { current -> (Client, Client?) in
                current.calls += 1
                guard current.calls > EtcdClient.callsPerConnection else { return (current.client, nil) }
                guard let fresh = try? Client(transport: makeTransport()), start(fresh) else {
                    // No new connection now (closing, or no transport): try again after another
                    // `callsPerConnection` calls, not on each one.
                    current.calls = 1
                    return (current.client, nil)
                }
                let retired = current.client
                current = (fresh, 1)
                return (fresh, retired)
            }
            retired?.beginGracefulShutdown()
            return client
        }

        /// Lets the current connection's calls finish, then closes it.
        func shutdown() {
            current.withLockedValue { $0.client }.beginGracefulShutdown()
        }

        var initial: Client { current.withLockedValue { $0.client } }
    }

    private struct State {
        /// The endpoint calls go to first.
        var current = 0
        var token: String?
    }

    /// The largest reply Moat reads: a range over a large document's chunks fits.
    package static let maximumResponseBytes = 64 * 1024 * 1024
    /// Calls one connection takes before a new one takes over: with the PINGs of the streams
    /// (a watch's progress requests, lease keep-alives) and of keepalive, well under 200 in 30 s.
    static let callsPerConnection = 120

    package let configuration: EtcdConfiguration
    private let members: [Member]
    private let state = NIOLockedValueBox(State())
    /// The connections to run: every member's first, then each that takes over (`run()`).
    private let connections: (stream: AsyncStream<Client>, continuation: AsyncStream<Client>.Continuation)

    package init(_ configuration: EtcdConfiguration) throws(EtcdError) {
        self.configuration = configuration
        let security = Self.transportSecurity(configuration.tls)
        var members: [Member] = []
        for endpoint in configuration.endpoints {
            do {
                members.append(
                    try Member(endpoint) {
                        try HTTP2ClientTransport.Posix(
                            target: Self.target(endpoint),
                            transportSecurity: security,
                            config: .defaults { config in
                                // A dead member is noticed on a quiet connection too (a watch waiting for events).
                                config.connection.keepalive = .init(
                                    time: .seconds(10),
                                    timeout: .seconds(5),
                                    allowWithoutCalls: true
                                )
                                config.backoff.initial = .milliseconds(100)
                                config.backoff.max = .seconds(2)
                            }
                        )
                    }
                )
            } catch {
                throw EtcdError(.invalidConfiguration, "etcd endpoint '\(endpoint)' cannot be used: \(error)")
            }
        }
        self.members = members
        connections = AsyncStream.makeStream()
        for member in members { connections.continuation.yield(member.initial) }
    }

    /// An IP address is its own target: resolved by name it would go into TLS's server name
    /// indication, where an address is not allowed (the certificate is checked against it instead).
    private static func target(_ endpoint: EtcdConfiguration.Endpoint) -> any ResolvableTarget {
        var ipv4 = in_addr()
        var ipv6 = in6_addr()
        if inet_pton(AF_INET, endpoint.host, &ipv4) == 1 {
            return .ipv4(address: endpoint.host, port: endpoint.port)
        }
        if inet_pton(AF_INET6, endpoint.host, &ipv6) == 1 {
            return .ipv6(address: endpoint.host, port: endpoint.port)
        }
        return .dns(host: endpoint.host, port: endpoint.port)
    }

    private static func transportSecurity(
        _ tls: EtcdConfiguration.TLS?
    ) -> HTTP2ClientTransport.Posix.TransportSecurity {
        guard let tls else { return .plaintext }
        return .tls { config in
            if let ca = tls.caFile { config.trustRoots = .certificates([.file(path: ca, format: .pem)]) }
            if let certificate = tls.certificateFile, let key = tls.keyFile {
                config.certificateChain = [.file(path: certificate, format: .pem)]
                config.privateKey = .file(path: key, format: .pem)
            }
        }
    }

    /// Keeps the connections to every endpoint until `shutdown()` (and the open calls) finish.
    package func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for await client in connections.stream {
                group.addTask {
                    do {
                        try await client.runConnections()
                    } catch let error as RuntimeError where error.code == .clientIsStopped {
                        // Shut down before it ran (`shutdown()` came first): nothing to run.
                    }
                }
            }
        }
    }

    /// Lets open calls finish, then closes every connection; `run()` returns after.
    package func shutdown() {
        connections.continuation.finish()
        for member in members { member.shutdown() }
    }

    /// The connection to `member` for one more call or stream.
    private func connection(to member: Member) -> Client {
        member.client { fresh in
            if case .enqueued = connections.continuation.yield(fresh) { return true }
            return false
        }
    }

    // MARK: - KV

    package func range(_ request: EtcdRangeRequest) async throws(EtcdError) -> EtcdRangeResponse {
        try await call(Method.range, request)
    }

    package func put(_ request: EtcdPutRequest) async throws(EtcdError) -> EtcdPutResponse {
        try await call(Method.put, request)
    }

    package func txn(_ request: EtcdTxnRequest) async throws(EtcdError) -> EtcdTxnResponse {
        try await call(Method.txn, request)
    }

    // MARK: - Lease

    /// A new lease of `ttl` seconds: its ID and the TTL etcd granted.
    package func grantLease(ttl: Int64) async throws(EtcdError) -> (id: Int64, ttl: Int64) {
        let response: EtcdLeaseGrantResponse = try await call(Method.leaseGrant, EtcdLeaseGrantRequest(ttl: ttl))
        guard response.error.isEmpty else { throw EtcdError(.refused, "etcd granted no lease: \(response.error)") }
        return (response.id, response.ttl)
    }

    /// Revokes a lease: every key attached to it is deleted.
    package func revokeLease(_ id: Int64) async throws(EtcdError) {
        let _: EtcdLeaseRevokeResponse = try await call(Method.leaseRevoke, EtcdLeaseRequest(.revoke, id: id))
    }

    /// Keeps lease `id` alive, renewing it every `interval`, until cancelled; throws when the
    /// stream fails (`.unavailable`: call again) or the lease is gone (`.leaseExpired`).
    package func keepAlive(lease id: Int64, every interval: Duration) async throws(EtcdError) {
        try await stream(Method.leaseKeepAlive) { client, token throws in
            try await client.bidirectionalStreaming(
                request: StreamingClientRequest(metadata: Self.metadata(token)) { writer in
                    while true {
                        try await writer.write(EtcdLeaseRequest(.keepAlive, id: id))
                        try await Task.sleep(for: interval)
                    }
                },
                descriptor: Method.leaseKeepAlive,
                serializer: EtcdSerializer<EtcdLeaseRequest>(),
                deserializer: EtcdDeserializer<EtcdLeaseKeepAliveResponse>(),
                options: options(timeout: nil)
            ) { response in
                for try await message in response.messages where message.ttl <= 0 {
                    throw EtcdError(.leaseExpired, "etcd lease \(String(id, radix: 16)) expired")
                }
                throw EtcdError(.unavailable, "etcd ended the lease keep-alive stream")
            }
        }
    }

    // MARK: - Watch

    /// Watches the keys in [key, rangeEnd) from `startRevision` (inclusive), handing every reply to
    /// `handle` in order: the watch created, events, progress notifications (asked for every
    /// `progressInterval`, so that a quiet watch still confirms how far it has seen). Runs until
    /// cancelled or `handle` throws; throws `.compacted` when `startRevision` is compacted, and
    /// `.unavailable` when the stream fails (call again from the revision after the last one seen).
    package func watch(
        key: [UInt8],
        rangeEnd: [UInt8],
        from startRevision: Int64,
        progressInterval: Duration,
        _ handle: @escaping @Sendable (EtcdWatchResponse) async throws -> Void
    ) async throws(EtcdError) {
        try await stream(Method.watch) { client, token throws in
            try await client.bidirectionalStreaming(
                request: StreamingClientRequest(metadata: Self.metadata(token)) { writer in
                    try await writer.write(.create(key: key, rangeEnd: rangeEnd, startRevision: startRevision))
                    while true {
                        try await Task.sleep(for: progressInterval)
                        try await writer.write(.progress)
                    }
                },
                descriptor: Method.watch,
                serializer: EtcdSerializer<EtcdWatchRequest>(),
                deserializer: EtcdDeserializer<EtcdWatchResponse>(),
                options: options(timeout: nil)
            ) { response in
                for try await message in response.messages {
                    if message.canceled {
                        if message.compactRevision > 0 {
                            throw EtcdError(
                                .compacted(message.compactRevision),
                                "etcd compacted revision \(startRevision) (compacted up to \(message.compactRevision))"
                            )
                        }
                        throw EtcdError(.refused, "etcd canceled the watch: \(message.cancelReason)")
                    }
                    try await handle(message)
                }
                throw EtcdError(.unavailable, "etcd ended the watch stream")
            }
        }
    }

    // MARK: - Calls

    private enum Method {
        static let range = MethodDescriptor(fullyQualifiedService: "etcdserverpb.KV", method: "Range")
        static let put = MethodDescriptor(fullyQualifiedService: "etcdserverpb.KV", method: "Put")
        static let txn = MethodDescriptor(fullyQualifiedService: "etcdserverpb.KV", method: "Txn")
        static let watch = MethodDescriptor(fullyQualifiedService: "etcdserverpb.Watch", method: "Watch")
        static let leaseGrant = MethodDescriptor(fullyQualifiedService: "etcdserverpb.Lease", method: "LeaseGrant")
        static let leaseRevoke = MethodDescriptor(fullyQualifiedService: "etcdserverpb.Lease", method: "LeaseRevoke")
        static let leaseKeepAlive = MethodDescriptor(
            fullyQualifiedService: "etcdserverpb.Lease",
            method: "LeaseKeepAlive"
        )
        static let authenticate = MethodDescriptor(fullyQualifiedService: "etcdserverpb.Auth", method: "Authenticate")
    }

    /// The options of one attempt of a call (`timeout` nil: a stream): it fails at once on an
    /// endpoint that is not connected (`waitForReady` false), so that the next one is tried,
    /// unless `waiting`.
    private func options(timeout: Duration?, waiting: Bool = false) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = timeout
        options.waitForReady = waiting
        options.maxResponseMessageBytes = Self.maximumResponseBytes
        return options
    }

    private static func metadata(_ token: String?) -> Metadata {
        var metadata = Metadata()
        if let token { metadata.addString(token, forKey: "token") }
        return metadata
    }

    /// A pause between two rounds over the endpoints when none answered at once.
    private static let firstPause = Duration.milliseconds(50)
    private static let longestPause = Duration.seconds(1)

    /// One unary call: on each endpoint in turn from the current one until one answers. When none
    /// does (down, restarting, the connection being set up again), the endpoints are tried again,
    /// now waiting for a connection to be ready, until `configuration.timeout` has passed since the
    /// call began; then it fails, naming the endpoints and the last error. Each attempt takes at
    /// most `configuration.requestTimeout`.
    ///
    /// A call retried after its first attempt failed on a broken connection may have been carried
    /// out by etcd all the same: Moat's writes are transactions that compare the revision they
    /// read, or puts of values that are the same each time, so that carrying one out twice changes
    /// nothing more.
    private func call<Request: EtcdRequest, Response: EtcdResponse>(
        _ method: MethodDescriptor,
        _ request: Request
    ) async throws(EtcdError) -> Response {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: configuration.timeout)
        var lastFailure = "no attempt was made"
        var waiting = false
        var pause = Self.firstPause
        while true {
            let first = state.withLockedValue { $0.current }
            for attempt in 0..<members.count {
                let remaining = clock.now.duration(to: deadline)
                guard remaining > .zero else { break }
                let index = (first + attempt) % members.count
                let member = members[index]
                let attemptOptions = options(timeout: min(configuration.requestTimeout, remaining), waiting: waiting)
                let client = connection(to: member)
                do {
                    let response: Response = try await authorized(client, attemptOptions) { token in
                        try await client.unary(
                            request: ClientRequest(message: request, metadata: Self.metadata(token)),
                            descriptor: method,
                            serializer: EtcdSerializer<Request>(),
                            deserializer: EtcdDeserializer<Response>(),
                            options: attemptOptions
                        ) { try $0.message }
                    }
                    if index != first { state.withLockedValue { $0.current = index } }
                    return response
                } catch {
                    let failure = Self.etcdError(error, method)
                    guard failure.kind == .unavailable else { throw failure }
                    lastFailure = "\(member.endpoint): \(failure.message)"
                }
            }
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .zero, !Task.isCancelled else {
                throw EtcdError(
                    .unavailable,
                    "no etcd endpoint (\(members.map(\.endpoint.description).joined(separator: ", "))) answered \(method.method) within \(configuration.timeout); the last error: \(lastFailure)"
                )
            }
            try? await Task.sleep(for: min(pause, remaining))
            pause = min(pause * 2, Self.longestPause)
            waiting = true
        }
    }

    /// A stream on the current endpoint; when it fails for want of the endpoint, the next is current.
    private func stream(
        _ method: MethodDescriptor,
        _ body: (Client, String?) async throws -> Void
    ) async throws(EtcdError) {
        let index = state.withLockedValue { $0.current }
        let client = connection(to: members[index])
        do {
            try await authorized(client, options(timeout: configuration.requestTimeout)) { token in
                try await body(client, token)
            }
        } catch {
            let failure = Self.etcdError(error, method)
            if failure.kind == .unavailable {
                state.withLockedValue { if $0.current == index { $0.current = (index + 1) % members.count } }
            }
            throw failure
        }
    }

    /// Runs `body` with a valid token (nil without a user), authenticating once more when etcd
    /// says the token is no longer valid.
    private func authorized<T>(
        _ client: Client,
        _ options: CallOptions,
        _ body: (String?) async throws -> T
    ) async throws -> T {
        guard let user = configuration.user else { return try await body(nil) }
        let token = try await token(client, user, options, replacing: nil)
        do {
            return try await body(token)
        } catch let error as RPCError
            where error.code == .unauthenticated || error.message.contains("invalid auth token")
        {
            return try await body(try await self.token(client, user, options, replacing: token))
        }
    }

    /// The current token, or a new one when there is none or it is `stale`.
    private func token(
        _ client: Client,
        _ user: EtcdConfiguration.User,
        _ options: CallOptions,
        replacing stale: String?
    ) async throws -> String {
        if let current = state.withLockedValue({ $0.token }), current != stale { return current }
        let response = try await client.unary(
            request: ClientRequest(message: EtcdAuthenticateRequest(name: user.name, password: user.password)),
            descriptor: Method.authenticate,
            serializer: EtcdSerializer<EtcdAuthenticateRequest>(),
            deserializer: EtcdDeserializer<EtcdAuthenticateResponse>(),
            options: options
        ) { try $0.message }
        state.withLockedValue { $0.token = response.token }
        return response.token
    }

    /// What a failed call means for Moat: unavailable (try elsewhere, later) or refused.
    private static func etcdError(_ error: any Error, _ method: MethodDescriptor) -> EtcdError {
        if let error = error as? EtcdError { return error }
        guard let error = error as? RPCError else {
            return EtcdError(.unavailable, "etcd \(method.method) failed: \(error)")
        }
        switch error.code {
        case .unavailable, .deadlineExceeded, .aborted, .resourceExhausted, .unknown, .internalError:
            // The transport's reason (refused, TLS handshake) is in the cause.
            let cause = error.cause.map { " (\($0))" } ?? ""
            return EtcdError(.unavailable, "etcd \(method.method) failed: \(error.message)\(cause)")
        case .notFound where error.message.contains("lease not found"):
            return EtcdError(.leaseExpired, "etcd \(method.method): \(error.message)")
        default:
            return EtcdError(.refused, "etcd refused \(method.method): \(error.message) (\(error.code))")
        }
    }
}
