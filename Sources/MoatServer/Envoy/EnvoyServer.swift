import GRPCCore
import GRPCNIOTransportCore
import Logging
import MoatKeyVaultHTTP
import MoatWire
import NIOCore
import NIOExtras
import NIOPosix
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// The Envoy ext_authz service's listeners (docs/envoy.md): a Unix socket bound with the
/// project's own listener code (live-socket probe, 107-byte paths, mode, group, the systemd socket
/// `moat-envoy`), whose descriptor is handed to grpc-swift's HTTP/2 transport, and optionally a
/// TCP address. Stops accepting on graceful shutdown, lets open RPCs finish, and removes the
/// socket file it created.
final class EnvoyServer: Service {
    static let systemdName = "moat-envoy"

    private let servers: [GRPCServer<HTTP2ServerTransport.Custom<EnvoyListenerFactory>>]
    /// The Unix listener and its descriptor, until the transport takes it over.
    private let bound: (listener: Listener, fd: Int32)?
    private let logger: Logger

    private init(
        servers: [GRPCServer<HTTP2ServerTransport.Custom<EnvoyListenerFactory>>],
        bound: (listener: Listener, fd: Int32)?,
        logger: Logger
    ) {
        self.servers = servers
        self.bound = bound
        self.logger = logger
    }

    /// Whether there is anything to serve: a socket, a systemd socket or a TCP address.
    static func isConfigured(_ configuration: EnvoyConfiguration, _ inherited: SystemdSockets) -> Bool {
        configuration.isEnabled || inherited.descriptors[systemdName] != nil
    }

    /// Binds the configured listeners; fails with a `SocketSetupError` saying why it cannot.
    static func bind(
        _ inherited: SystemdSockets,
        group: MultiThreadedEventLoopGroup,
        configuration: EnvoyConfiguration,
        context: DataContext,
        logger: Logger
    ) async throws -> EnvoyServer {
        let service = EnvoyAuthorizationService(
            context: context,
            group: group,
            mapping: HTTPCheckMapping(trustedProxies: configuration.trustedProxies),
            answersErrorResponse: configuration.answersErrorResponse
        )
        var transportConfig = HTTP2ServerTransport.Custom<EnvoyListenerFactory>.Config.defaults
        transportConfig.rpc.maxRequestPayloadSize = EnvoyConfiguration.transportPayloadLimit
        func server(
            _ address: EnvoyListenerFactory.Address
        ) -> GRPCServer<HTTP2ServerTransport.Custom<EnvoyListenerFactory>> {
            let factory = EnvoyListenerFactory(
                eventLoopGroup: group,
                address: address,
                metrics: context.metrics,
                logger: logger
            )
            return GRPCServer(
                transport: HTTP2ServerTransport.Custom(listenerFactory: factory, config: transportConfig),
                services: [service]
            )
        }
        var servers: [GRPCServer<HTTP2ServerTransport.Custom<EnvoyListenerFactory>>] = []
        var bound: (listener: Listener, fd: Int32)?
        if let listener = try inherited.listener(systemdName) ?? configuration.socket.map({ .path($0) }) {
            let fd = try await listener.bind(backlog: 1024, adopt: { $0 }, release: { _ = Glibc.close($0) })
            servers.append(server(.unixSocket(fd: fd, peers: configuration.socket?.peers ?? .anyone)))
            bound = (listener, fd)
            logger.info("envoy socket listening", metadata: ["socket": "\(listener.description)"])
        }
        if let tcp = configuration.listen {
            servers.append(server(.tcp(tcp)))
        }
        return EnvoyServer(servers: servers, bound: bound, logger: logger)
    }

    /// Closes the Unix listener without having served (a later part of the setup failed).
    func abandon() {
        guard let bound else { return }
        _ = Glibc.close(bound.fd)
        bound.listener.removeSocketFile()
    }

    func run() async throws {
        let servers = self.servers
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { tasks in
                for server in servers {
                    tasks.addTask { try await server.serve() }
                }
            }
        } onGracefulShutdown: {
            for server in servers { server.beginGracefulShutdown() }
        }
        bound?.listener.removeSocketFile()
    }
}

/// Makes the transport's listening channel from an already-bound Unix socket or a TCP address,
/// and applies the Unix socket's peer allow-list at accept: a child-channel initializer reads
/// SO_PEERCRED before the HTTP/2 pipeline is added, and closes a connection the policy does not
/// admit (counted as `peer_not_allowed`) before it can send a single request.
struct EnvoyListenerFactory: HTTP2ServerTransport.ListenerFactory {
    enum Address: Sendable {
        case unixSocket(fd: Int32, peers: PeerPolicy)
        case tcp(EnvoyConfiguration.TCPAddress)
    }

    let eventLoopGroup: any EventLoopGroup
    let address: Address
    let metrics: ServerMetrics
    let logger: Logger

    func makeListeningChannel(
        listenerConfigurator: HTTP2ServerTransport.ListenerConfigurator,
        connectionConfigurator: HTTP2ServerTransport.ConnectionConfigurator
    ) async throws -> NIOAsyncChannel<HTTP2ServerTransport.ConnectionConfigurator.ConnectionChannel, Never> {
        let logger = self.logger
        let bootstrap = ServerBootstrap(group: eventLoopGroup)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptBackoffHandler.logging(named: "envoy", logger))
                }.flatMap { listenerConfigurator.configure(channel: channel) }
            }
        switch address {
        case .unixSocket(let fd, let peers):
            let metrics = self.metrics
            return try await bootstrap.bind(NIOBSDSocket.Handle(fd)) { channel in
                Self.admit(channel, peers, metrics).flatMap {
                    connectionConfigurator.configure(channel: channel, tls: .none)
                }
            }
        case .tcp(let tcp):
            let bound = try await bootstrap.serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: tcp.host, port: tcp.port) { channel in
                    connectionConfigurator.configure(channel: channel, tls: .none)
                }
            logger.info("envoy TCP listener listening", metadata: ["address": "\(tcp)"])
            return bound
        }
    }

    /// Succeeds when `peers` admits the connection's peer; otherwise closes it and fails.
    private static func admit(
        _ channel: any Channel,
        _ peers: PeerPolicy,
        _ metrics: ServerMetrics
    ) -> EventLoopFuture<Void> {
        guard peers != .anyone else { return channel.eventLoop.makeSucceededVoidFuture() }
        return PeerCredentials.of(channel).flatMapThrowing { peer in
            guard let peer else {
                metrics.countRefusal(.peerCredentialsUnreadable)
                throw EnvoyPeerRefused()
            }
            guard peers.admits(peer) else {
                metrics.countRefusal(.peerNotAllowed)
                throw EnvoyPeerRefused()
            }
        }.flatMapError { error in
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(error)
        }
    }
}

/// A connection to the Envoy socket from a peer its allow-list does not admit.
struct EnvoyPeerRefused: Error {}
