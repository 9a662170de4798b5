import Atomics
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif
// C types (`stat`, `dirent`) are also declared through CoreFoundation, which the etcd client's TLS
// stack loads into this module: imported here, so that their members resolve in this file.
#if canImport(CoreFoundation)
import CoreFoundation
#endif

/// The operators' HTTP listeners (docs/running.md, "Health and metrics over HTTP"): a TCP
/// address, a Unix socket bound with the project's own listener code (live-socket probe, mode,
/// group, the systemd socket `moat-http`), or both. They run on an event loop of their own, so
/// that HTTP traffic never takes a turn of the loops that answer checks; what they read (the
/// metrics registry, the updater's status) checks only ever write.
///
/// On graceful shutdown they stop accepting and close; the Unix socket file they created goes.
final class HTTPServer: Service {
    static let systemdName = "moat-http"

    private let channels: [any Channel]
    private let unixListener: Listener?
    private let group: MultiThreadedEventLoopGroup

    private init(channels: [any Channel], unixListener: Listener?, group: MultiThreadedEventLoopGroup) {
        self.channels = channels
        self.unixListener = unixListener
        self.group = group
    }

    /// Whether there is anything to serve: an address, a socket or a systemd socket.
    static func isConfigured(_ configuration: HTTPConfiguration, _ inherited: SystemdSockets) -> Bool {
        configuration.isEnabled || inherited.descriptors[systemdName] != nil
    }

    /// Binds the configured listeners; fails with a `SocketSetupError` saying why it cannot.
    static func bind(
        _ inherited: SystemdSockets,
        configuration: HTTPConfiguration,
        routes: HTTPRoutes,
        logger: Logger
    ) async throws -> HTTPServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let open = ManagedAtomic(0)
        // Nothing is accepted until `run`, once the service group handles SIGTERM (as the data socket).
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.autoRead, value: false)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptBackoffHandler.logging(named: "http", logger))
                }
            }
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let count = open.wrappingIncrementThenLoad(ordering: .relaxed)
                    channel.closeFuture.whenComplete { _ in open.wrappingDecrement(ordering: .relaxed) }
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(
                        HTTPConnectionLimits(
                            timeout: TimeAmount(configuration.timeout),
                            maximumRequestBytes: HTTPConfiguration.maximumRequestBytes,
                            overCapacity: count > configuration.maximumConnections
                        )
                    )
                    try sync.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
                    try sync.addHandler(HTTPRequestHandler(routes: routes))
                }
            }
        var channels: [any Channel] = []
        var unixListener: Listener?
        do {
            if let listener = try inherited.listener(systemdName) ?? configuration.socket.map({ .path($0) }) {
                channels.append(
                    try await listener.bind(
                        backlog: 128,
                        adopt: { fd in try await bootstrap.withBoundSocket(fd).get() },
                        release: { try await $0.close() }
                    )
                )
                unixListener = listener
                logger.info("HTTP socket listening", metadata: ["socket": "\(listener.description)"])
            }
            if let tcp = configuration.listen {
                do {
                    channels.append(
                        try await bootstrap.serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                            .bind(host: tcp.host, port: tcp.port).get()
                    )
                } catch {
                    throw SocketSetupError("cannot listen for HTTP on \(tcp): \(error)")
                }
                logger.info("HTTP listening", metadata: ["address": "\(tcp)"])
            }
        } catch {
            for channel in channels { try? await channel.close() }
            unixListener?.removeSocketFile()
            try? await group.shutdownGracefully()
            throw error
        }
        return HTTPServer(channels: channels, unixListener: unixListener, group: group)
    }

    /// Closes the listeners without having served (a later part of the setup failed).
    func abandon() async {
        await close()
    }

    func run() async throws {
        for channel in channels { try await channel.setOption(.autoRead, value: true).get() }
        try? await gracefulShutdown()
        await close()
    }

    private func close() async {
        for channel in channels { try? await channel.close() }
        unixListener?.removeSocketFile()
        try? await group.shutdownGracefully()
    }
}
