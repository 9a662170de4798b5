import Logging
import MoatKeyVaultHTTP
import MoatWire
import NIOCore
import NIOExtras
import NIOHPACK
import NIOHTTP2
import NIOPosix
import ServiceLifecycle

/// The Envoy ext_authz service's listeners (docs/envoy.md, "Serving"): a Unix socket bound with
/// the project's own listener code (live-socket probe, 107-byte paths, mode, group, the systemd
/// socket `moat-envoy`), and optionally a TCP address. Each connection is HTTP/2 (swift-nio-http2),
/// its streams served by an `EnvoyConnectionHandler` on the event loop that accepted it.
///
/// On graceful shutdown it stops accepting, sends each connection a GOAWAY, lets the streams
/// opened before it finish (within the drain deadline), and removes the socket file it created.
final class EnvoyServer: Service {
    static let systemdName = "moat-envoy"

    private let channels: [any Channel]
    /// Where the drain deadline runs.
    private let eventLoop: any EventLoop
    private let quiescing: ServerQuiescingHelper
    /// The Unix socket's listener, whose file is removed at exit.
    private let listener: Listener?
    private let drainTime: TimeAmount
    private let logger: Logger

    private init(
        channels: [any Channel],
        eventLoop: any EventLoop,
        quiescing: ServerQuiescingHelper,
        listener: Listener?,
        drainTime: TimeAmount,
        logger: Logger
    ) {
        self.channels = channels
        self.eventLoop = eventLoop
        self.quiescing = quiescing
        self.listener = listener
        self.drainTime = drainTime
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
        drainTime: Duration,
        context: DataContext,
        logger: Logger
    ) async throws -> EnvoyServer {
        let service = EnvoyAuthorizationService(
            context: context,
            mapping: HTTPCheckMapping(trustedProxies: configuration.trustedProxies),
            answersErrorResponse: configuration.answersErrorResponse
        )
        let quiescing = ServerQuiescingHelper(group: group)
        let drain = TimeAmount(drainTime)
        func bootstrap(_ peers: PeerPolicy) -> ServerBootstrap {
            // Nothing is accepted until `run`, once the service group handles SIGTERM: a connection
            // waits in the backlog until then.
            ServerBootstrap(group: group)
                .serverChannelOption(.autoRead, value: false)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(AcceptBackoffHandler.logging(named: "envoy", logger))
                        try sync.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                    }
                }
                .childChannelInitializer { channel in
                    admit(channel, peers, context.metrics).flatMapThrowing {
                        try configureHTTP2(channel, service: service, drainTime: drain)
                    }
                }
        }
        var channels: [any Channel] = []
        var listener: Listener?
        do {
            if let unix = try inherited.listener(systemdName) ?? configuration.socket.map({ .path($0) }) {
                let server = bootstrap(configuration.socket?.peers ?? .anyone)
                channels.append(
                    try await unix.bind(
                        backlog: 1024,
                        adopt: { fd in try await server.withBoundSocket(fd).get() },
                        release: { try await $0.close() }
                    )
                )
                listener = unix
                logger.info("envoy socket listening", metadata: ["socket": "\(unix.description)"])
            }
            if let tcp = configuration.listen {
                let server = bootstrap(.anyone)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                do {
                    channels.append(try await server.bind(host: tcp.host, port: tcp.port).get())
                } catch {
                    throw SocketSetupError("cannot listen on \(tcp): \(error)")
                }
                logger.info("envoy TCP listener listening", metadata: ["address": "\(tcp)"])
            }
        } catch {
            close(channels, listener)
            throw error
        }
        return EnvoyServer(
            channels: channels,
            eventLoop: group.next(),
            quiescing: quiescing,
            listener: listener,
            drainTime: drain,
            logger: logger
        )
    }

    /// The HTTP/2 settings moatd sends Envoy (docs/envoy.md, "Serving"): a check's headers and
    /// message fit in one window and a few frames; streams per connection are bounded.
    static let settings: HTTP2Settings = [
        HTTP2Setting(parameter: .maxConcurrentStreams, value: 1024),
        HTTP2Setting(parameter: .initialWindowSize, value: streamWindow),
        HTTP2Setting(parameter: .maxFrameSize, value: 1 << 16),
        HTTP2Setting(parameter: .maxHeaderListSize, value: HPACKDecoder.defaultMaxHeaderListSize),
    ]

    /// The inbound flow-control windows moatd keeps open: the connection's, and each stream's (its
    /// initial window, `settings`).
    static let connectionWindow = 8 << 20
    static let streamWindow = 1 << 20

    /// An accepted connection's pipeline: HTTP/2, its streams read and answered by an
    /// `EnvoyConnectionHandler` on the connection's own pipeline; GOAWAY and the drain deadline on
    /// graceful shutdown (the management handler counts the open streams from NIOHTTP2Handler's
    /// stream events); the connection closed on a protocol error.
    private static func configureHTTP2(
        _ channel: any Channel,
        service: EnvoyAuthorizationService,
        drainTime: TimeAmount
    ) throws {
        let sync = channel.pipeline.syncOperations
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = settings
        try sync.addHandler(NIOHTTP2Handler(mode: .server, connectionConfiguration: connection))
        try sync.addHandler(
            NIOHTTP2ServerConnectionManagementHandler(
                eventLoop: channel.eventLoop,
                configuration: .init(maxIdleTime: nil, maxAge: nil, maxGraceTime: drainTime, keepalive: nil)
            )
        )
        try sync.addHandler(
            EnvoyConnectionHandler(
                service: service,
                eventLoop: channel.eventLoop,
                connectionWindow: connectionWindow,
                streamWindow: streamWindow
            )
        )
        try sync.addHandler(NIOCloseOnErrorHandler())
    }

    /// Succeeds when `peers` admits the connection's peer (SO_PEERCRED, read before the HTTP/2
    /// pipeline exists); otherwise closes it, counted, before it can send a single request.
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

    /// Closes the listeners without having served (a later part of the setup failed).
    func abandon() {
        Self.close(channels, listener)
    }

    /// Closes listeners that will not serve, and removes the socket file `listener` created.
    private static func close(_ channels: [any Channel], _ listener: Listener?) {
        for channel in channels { channel.close(promise: nil) }
        listener?.removeSocketFile()
    }

    func run() async throws {
        for channel in channels { try await channel.setOption(.autoRead, value: true).get() }
        try? await gracefulShutdown()
        if await !quiescing.drain(on: eventLoop, within: drainTime) {
            logger.warning("envoy connections still open after the drain deadline; they close with the event loops")
        }
        listener?.removeSocketFile()
    }
}

/// A connection to the Envoy socket from a peer its allow-list does not admit.
struct EnvoyPeerRefused: Error {}
