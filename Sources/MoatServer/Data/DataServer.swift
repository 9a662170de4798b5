import Atomics
import Logging
import MoatWire
import NIOCore
import NIOExtras
import NIOPosix
import Prometheus
import ServiceLifecycle

/// The data socket: Check, CheckBatch and Ping, answered by channel handlers on the event loop
/// that read each frame (DESIGN.md "Data flow of one check").
///
/// On graceful shutdown it stops accepting, lets every connection write the answers to what it
/// has read and close (within the drain deadline), and removes the socket file it created.
final class DataServer: Service {
    private let channel: any Channel
    private let quiescing: ServerQuiescingHelper
    private let listener: Listener
    private let draining: ManagedAtomic<Bool>
    private let drainTime: TimeAmount
    private let logger: Logger

    private init(
        channel: any Channel,
        quiescing: ServerQuiescingHelper,
        listener: Listener,
        draining: ManagedAtomic<Bool>,
        drainTime: TimeAmount,
        logger: Logger
    ) {
        self.channel = channel
        self.quiescing = quiescing
        self.listener = listener
        self.draining = draining
        self.drainTime = drainTime
        self.logger = logger
    }

    /// Binds the socket; fails with a `SocketSetupError` saying why it cannot.
    static func bind(
        _ listener: Listener,
        group: MultiThreadedEventLoopGroup,
        configuration: ServerConfiguration,
        context: DataContext,
        logger: Logger
    ) async throws -> DataServer {
        let quiescing = ServerQuiescingHelper(group: group)
        let connections = ManagedAtomic(0)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 256 * 1024))
            .childChannelInitializer { channel in
                context.initialize(channel, connections: connections, configuration: configuration)
            }
        let channel = try await listener.bind(
            backlog: 1024,
            adopt: { fd in try await bootstrap.withBoundSocket(fd).get() },
            release: { try await $0.close() }
        )
        logger.info("data socket listening", metadata: ["socket": "\(listener.description)"])
        return DataServer(
            channel: channel,
            quiescing: quiescing,
            listener: listener,
            draining: context.draining,
            drainTime: .seconds(configuration.drainSeconds),
            logger: logger
        )
    }

    func run() async throws {
        try? await gracefulShutdown()
        draining.store(true, ordering: .relaxed)
        let drained = channel.eventLoop.makePromise(of: Void.self)
        quiescing.initiateShutdown(promise: drained)
        let timeout = channel.eventLoop.scheduleTask(in: drainTime) {
            drained.fail(ChannelError.ioOnClosedChannel)
        }
        do {
            try await drained.futureResult.get()
            timeout.cancel()
        } catch {
            logger.warning("connections still open after the drain deadline; they close with the event loops")
        }
        listener.removeSocketFile()
    }
}

/// What every data connection shares: the serving rules, per-loop token caches, metrics, the
/// decision log, and the daemon's draining flag.
struct DataContext: Sendable {
    let store: RuleStore
    let tokenCaches: [ObjectIdentifier: TokenCache]
    let metrics: ServerMetrics
    let decisionLog: DecisionLog?
    let draining: ManagedAtomic<Bool>

    /// Admits or refuses a new connection (peer allow-list, connection limit) and builds its pipeline.
    func initialize(
        _ channel: any Channel,
        connections: ManagedAtomic<Int>,
        configuration: ServerConfiguration
    ) -> EventLoopFuture<Void> {
        let metrics = self.metrics
        let open = connections.wrappingIncrementThenLoad(ordering: .relaxed)
        metrics.connectionsData.increment()
        channel.closeFuture.whenComplete { _ in
            connections.wrappingDecrement(ordering: .relaxed)
            metrics.connectionsData.decrement()
        }
        guard open <= configuration.maximumConnections else {
            metrics.countRefusal(.connectionLimit)
            StatusFrame.refuse(channel, .unavailable, "connection limit of \(configuration.maximumConnections) reached")
            return channel.eventLoop.makeSucceededVoidFuture()
        }
        return PeerCredentials.of(channel).flatMap { peer in
            guard configuration.data.peers.admits(peer) else {
                StatusFrame.refusePeer(peer, on: .data, channel, metrics: metrics)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            let processor = DataRequestProcessor(
                store: store,
                tokenCache: tokenCaches[ObjectIdentifier(channel.eventLoop)]!,
                metrics: metrics,
                decisionLog: decisionLog,
                draining: draining,
                peer: peer,
                trustsAssertedIdentity: peer.map { configuration.trustedAsserterUIDs.contains($0.uid) } ?? false,
                sampling: UInt64.random(in: 1...UInt64.max)
            )
            return channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                if configuration.idleTimeoutSeconds > 0 {
                    try sync.addHandler(IdleStateHandler(allTimeout: .seconds(configuration.idleTimeoutSeconds)))
                }
                try sync.addHandler(
                    DataConnectionHandler(
                        processor: processor,
                        maximumFrameLength: configuration.data.maximumFrameLength,
                        partialFrameTimeout: .seconds(configuration.partialFrameTimeoutSeconds),
                        metrics: metrics
                    )
                )
            }
        }
    }
}
