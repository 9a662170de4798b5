import Logging
import MoatWire
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle

/// The control socket: rule updates and operator queries; connections are served concurrently,
/// the frames of each one at a time, with structured concurrency (DESIGN.md: async/await is for lifecycle and control).
final class ControlServer: Service {
    typealias Connection = NIOAsyncChannel<Frame, ByteBuffer>

    private let server: NIOAsyncChannel<Connection?, Never>
    private let listener: Listener
    private let processor: ControlRequestProcessor
    private let logger: Logger

    private init(
        server: NIOAsyncChannel<Connection?, Never>,
        listener: Listener,
        processor: ControlRequestProcessor,
        logger: Logger
    ) {
        self.server = server
        self.listener = listener
        self.processor = processor
        self.logger = logger
    }

    static func bind(
        _ listener: Listener,
        group: MultiThreadedEventLoopGroup,
        configuration: ServerConfiguration,
        processor: ControlRequestProcessor,
        metrics: ServerMetrics,
        logger: Logger
    ) async throws -> ControlServer {
        let socket = configuration.control
        let bootstrap = ServerBootstrap(group: group)
        let initialize: @Sendable (any Channel) -> EventLoopFuture<Connection?> = { channel in
            metrics.connectionsControl.increment()
            channel.closeFuture.whenComplete { _ in metrics.connectionsControl.decrement() }
            return PeerCredentials.of(channel).flatMapThrowing { peer in
                guard socket.peers.admits(peer) else {
                    StatusFrame.refusePeer(peer, on: .control, channel, metrics: metrics)
                    return nil  // never read, never served
                }
                try channel.pipeline.syncOperations.addHandler(
                    ByteToMessageHandler(FrameDecoder(maximumLength: socket.maximumFrameLength))
                )
                return try Connection(wrappingChannelSynchronously: channel)
            }
        }
        let server = try await listener.bind(
            backlog: 64,
            adopt: { fd in
                try await bootstrap.bind(fd, cleanupExistingSocketFile: false, childChannelInitializer: initialize)
            },
            release: { try await $0.channel.close() }
        )
        logger.info("control socket listening", metadata: ["socket": "\(listener.description)"])
        return ControlServer(server: server, listener: listener, processor: processor, logger: logger)
    }

    func run() async throws {
        let channel = server.channel
        try await withGracefulShutdownHandler {
            try await server.executeThenClose { connections in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in connections {
                        guard let connection else { continue }
                        group.addTask { await self.serve(connection) }
                    }
                    group.cancelAll()
                }
            }
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
        listener.removeSocketFile()
    }

    private func serve(_ connection: Connection) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                do {
                    for try await frame in inbound {
                        let (reply, closes) = await processor.answer(frame, allocator: connection.channel.allocator)
                        var out = connection.channel.allocator.buffer(
                            capacity: Frame.headerSize + reply.payload.readableBytes
                        )
                        out.writeFrame(reply)
                        try await outbound.write(out)
                        if closes { return }
                    }
                } catch let error as FrameError {
                    try await outbound.write(
                        StatusFrame.make(
                            status: error.status,
                            message: error.message,
                            allocator: connection.channel.allocator
                        )
                    )
                }
            }
        } catch {
            logger.debug("control connection ended: \(error)")
        }
    }
}
