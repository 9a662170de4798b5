import GRPCCore
import GRPCNIOTransportHTTP2Posix
package import MoatWire
import Synchronization

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
    private struct Member: Sendable {
        let endpoint: EtcdConfiguration.Endpoint
        let client: GRPCClient<HTTP2ClientTransport.Posix>
    }

    private struct State {
        /// The endpoint calls go to first.
        var current = 0
        var token: String?
    }

    /// The largest reply Moat reads: a range over a large document's chunks fits.
    package static let maximumResponseBytes = 64 * 1024 * 1024

    package let configuration: EtcdConfiguration
    private let members: [Member]
    private let state = Mutex(State())

    package init(_ configuration: EtcdConfiguration) throws(EtcdError) {
        self.configuration = configuration
        let security = Self.transportSecurity(configuration.tls)
        var members: [Member] = []
        for endpoint in configuration.endpoints {
            do {
                let transport = try HTTP2ClientTransport.Posix(
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
                members.append(Member(endpoint: endpoint, client: GRPCClient(transport: transport)))
            } catch {
                throw EtcdError(.invalidConfiguration, "etcd endpoint '\(endpoint)' cannot be used: \(error)")
            }
        }
        self.members = members
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
            for member in members {
                group.addTask { try await member.client.runConnections() }
            }
        }
    }

    /// Lets open calls finish, then closes every connection; `run()` returns after.
    package func shutdown() {
        for member in members { member.client.beginGracefulShutdown() }
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
        try await stream(Method.leaseKeepAlive) { member, token throws in
            try await member.client.bidirectionalStreaming(
                request: StreamingClientRequest(metadata: Self.metadata(token)) { writer in
                    while true {
                        try await writer.write(EtcdLeaseRequest(.keepAlive, id: id))
                        try await Task.sleep(for: interval)
                    }
                },
                descriptor: Method.leaseKeepAlive,
                serializer: EtcdSerializer<EtcdLeaseRequest>(),
                deserializer: EtcdDeserializer<EtcdLeaseKeepAliveResponse>(),
                options: streamOptions
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
        try await stream(Method.watch) { member, token throws in
            try await member.client.bidirectionalStreaming(
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
                options: streamOptions
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

    private var unaryOptions: CallOptions {
        var options = CallOptions.defaults
        options.timeout = configuration.requestTimeout
        // Fail at once on an endpoint that cannot be reached, so that the next one is tried.
        options.waitForReady = false
        options.maxResponseMessageBytes = Self.maximumResponseBytes
        return options
    }

    private var streamOptions: CallOptions {
        var options = unaryOptions
        options.timeout = nil
        return options
    }

    private static func metadata(_ token: String?) -> Metadata {
        var metadata = Metadata()
        if let token { metadata.addString(token, forKey: "token") }
        return metadata
    }

    /// One unary call, on each endpoint in turn from the current one until one answers.
    private func call<Request: EtcdRequest, Response: EtcdResponse>(
        _ method: MethodDescriptor,
        _ request: Request
    ) async throws(EtcdError) -> Response {
        let first = state.withLock { $0.current }
        var failures: [String] = []
        for attempt in 0..<members.count {
            let index = (first + attempt) % members.count
            let member = members[index]
            do {
                let response: Response = try await authorized(member) { token in
                    try await member.client.unary(
                        request: ClientRequest(message: request, metadata: Self.metadata(token)),
                        descriptor: method,
                        serializer: EtcdSerializer<Request>(),
                        deserializer: EtcdDeserializer<Response>(),
                        options: unaryOptions
                    ) { try $0.message }
                }
                if attempt > 0 { state.withLock { $0.current = index } }
                return response
            } catch {
                let failure = Self.etcdError(error, method)
                guard failure.kind == .unavailable else { throw failure }
                failures.append("\(member.endpoint): \(failure.message)")
            }
        }
        throw EtcdError(.unavailable, "no etcd endpoint answered \(method.method): \(failures.joined(separator: "; "))")
    }

    /// A stream on the current endpoint; when it fails for want of the endpoint, the next is current.
    private func stream(
        _ method: MethodDescriptor,
        _ body: (Member, String?) async throws -> Void
    ) async throws(EtcdError) {
        let index = state.withLock { $0.current }
        let member = members[index]
        do {
            try await authorized(member) { token in try await body(member, token) }
        } catch {
            let failure = Self.etcdError(error, method)
            if failure.kind == .unavailable {
                state.withLock { if $0.current == index { $0.current = (index + 1) % members.count } }
            }
            throw failure
        }
    }

    /// Runs `body` with a valid token (nil without a user), authenticating once more when etcd
    /// says the token is no longer valid.
    private func authorized<T>(_ member: Member, _ body: (String?) async throws -> T) async throws -> T {
        guard let user = configuration.user else { return try await body(nil) }
        let token = try await token(member, user, replacing: nil)
        do {
            return try await body(token)
        } catch let error as RPCError
            where error.code == .unauthenticated || error.message.contains("invalid auth token")
        {
            return try await body(try await self.token(member, user, replacing: token))
        }
    }

    /// The current token, or a new one when there is none or it is `stale`.
    private func token(
        _ member: Member,
        _ user: EtcdConfiguration.User,
        replacing stale: String?
    ) async throws -> String {
        if let current = state.withLock({ $0.token }), current != stale { return current }
        let response = try await member.client.unary(
            request: ClientRequest(message: EtcdAuthenticateRequest(name: user.name, password: user.password)),
            descriptor: Method.authenticate,
            serializer: EtcdSerializer<EtcdAuthenticateRequest>(),
            deserializer: EtcdDeserializer<EtcdAuthenticateResponse>(),
            options: unaryOptions
        ) { try $0.message }
        state.withLock { $0.token = response.token }
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
