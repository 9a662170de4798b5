import Atomics
import Logging
import MoatWire
import NIOCore
import NIOExtras
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// The data socket: Check, CheckBatch and Ping, answered by channel handlers on the event loop
/// that read each frame (docs/protocol.md).
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
        let connections = ConnectionCounts()
        // Nothing is accepted until `run`, once the service group handles SIGTERM: a connection
        // waits in the backlog until then (answered earlier, a client could send SIGTERM before
        // moatd handles it, and stop it without a drain).
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.autoRead, value: false)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(AcceptBackoffHandler.logging(.data, logger))
                    try sync.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            // Back-pressure (DataConnectionHandler): unsent answers stop at the high water mark,
            // and one read per turn of the loop bounds what a connection holds unanswered.
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 256 * 1024))
            .childChannelOption(.maxMessagesPerRead, value: 1)
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
            drainTime: TimeAmount(configuration.drainTime),
            logger: logger
        )
    }

    /// Closes the listener without having served (a later part of the setup failed), before
    /// the event loops shut down, and removes the socket file it created.
    func abandon() async {
        try? await channel.close()
        listener.removeSocketFile()
    }

    func run() async throws {
        try await channel.setOption(.autoRead, value: true).get()
        try? await gracefulShutdown()
        draining.store(true, ordering: .relaxed)
        if await !quiescing.drain(on: channel.eventLoop, within: drainTime) {
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

    /// Admits or refuses a new connection (connection limit, peer allow-list, connection limit
    /// per uid) and builds its pipeline.
    func initialize(
        _ channel: any Channel,
        connections: ConnectionCounts,
        configuration: ServerConfiguration
    ) -> EventLoopFuture<Void> {
        let metrics = self.metrics
        let open = connections.total.wrappingIncrementThenLoad(ordering: .relaxed)
        metrics.connectionsData.increment()
        channel.closeFuture.whenComplete { _ in
            connections.total.wrappingDecrement(ordering: .relaxed)
            metrics.connectionsData.decrement()
        }
        guard open <= configuration.maximumConnections else {
            metrics.countRefusal(.connectionLimit)
            StatusFrame.refuse(channel, .unavailable, "connection limit of \(configuration.maximumConnections) reached")
            return channel.eventLoop.makeSucceededVoidFuture()
        }
        return PeerCredentials.admit(channel, by: configuration.data.peers, on: .data, metrics: metrics).flatMap {
            peer in
            guard let peer else { return channel.eventLoop.makeSucceededVoidFuture() }
            let limit = configuration.effectiveMaximumConnectionsPerUID
            guard connections.open(uid: peer.uid, limit: limit) else {
                metrics.countRefusal(.connectionLimitPerUID)
                StatusFrame.refuse(
                    channel,
                    .unavailable,
                    "connection limit of \(limit) per uid reached for uid \(peer.uid)"
                )
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            channel.closeFuture.whenComplete { _ in connections.close(uid: peer.uid) }
            let processor = DataRequestProcessor(
                store: store,
                tokenCache: tokenCaches[ObjectIdentifier(channel.eventLoop)]!,
                metrics: metrics,
                decisionLog: decisionLog,
                draining: draining,
                peer: peer,
                trustsAssertedIdentity: configuration.trustedAsserterUIDs.contains(peer.uid),
                sampling: UInt64.random(in: 1...UInt64.max)
            )
            return channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                try sync.addHandler(
                    DataConnectionHandler(
                        processor: processor,
                        maximumFrameLength: configuration.data.maximumFrameLength,
                        partialFrameTimeout: TimeAmount(configuration.partialFrameTimeout),
                        idleTimeout: configuration.idleTimeout > .zero ? TimeAmount(configuration.idleTimeout) : nil,
                        metrics: metrics
                    )
                )
            }
        }
    }
}

/// The data connections open, in all and per peer uid (`--max-connections`,
/// `--max-connections-per-uid`), shared by every event loop.
final class ConnectionCounts: Sendable {
    let total = ManagedAtomic(0)
    private let perUID = Mutex<[UInt32: Int]>([:])

    /// Counts a connection of `uid` if that uid has fewer than `limit` open; whether it did.
    func open(uid: UInt32, limit: Int) -> Bool {
        perUID.withLock { counts in
            let open = counts[uid, default: 0]
            guard open < limit else { return false }
            counts[uid] = open + 1
            return true
        }
    }

    /// Uncounts a connection `open` counted.
    func close(uid: UInt32) {
        perUID.withLock { counts in
            let open = counts[uid, default: 1] - 1
            counts[uid] = open > 0 ? open : nil
        }
    }
}

extension ServerQuiescingHelper {
    /// Stops accepting, asks every connection to finish what it has read and close
    /// (`ChannelShouldQuiesceEvent`), and waits for them to close, at most `deadline`: whether
    /// they all did.
    func drain(on eventLoop: any EventLoop, within deadline: TimeAmount) async -> Bool {
        let drained = eventLoop.makePromise(of: Void.self)
        initiateShutdown(promise: drained)
        let timeout = eventLoop.scheduleTask(in: deadline) {
            drained.fail(ChannelError.ioOnClosedChannel)
        }
        do {
            try await drained.futureResult.get()
            timeout.cancel()
            return true
        } catch {
            return false
        }
    }
}

extension AcceptBackoffHandler {
    /// Backs off accepting for a second when accept fails (EMFILE, ENFILE, ENOBUFS, ...), instead
    /// of retrying at once, which would spin the event loop while the error lasts; logs each failure.
    static func logging(_ socket: SocketKind, _ logger: Logger) -> AcceptBackoffHandler {
        logging(named: "\(socket)", logger)
    }

    /// The same for a listener that is not one of the frame sockets (the Envoy service's).
    static func logging(named socket: String, _ logger: Logger) -> AcceptBackoffHandler {
        AcceptBackoffHandler(shouldForwardIOErrorCaught: false) { error in
            logger.warning(
                "cannot accept a connection; accepting again in 1 s",
                metadata: ["socket": "\(socket)", "error": "\(error)"]
            )
            return .seconds(1)
        }
    }
}
