import Atomics
import Logging
import MoatWire
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle

/// The control socket: rule updates and operator queries; connections are served concurrently,
/// the frames of each one at a time, with structured concurrency. Like the data socket it bounds
/// its connections (`--max-control-connections`) and the time a frame may take to arrive
/// (`--partial-frame-timeout`), docs/protocol.md "Limits".
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
        let limit = configuration.maximumControlConnections
        let partialFrameTimeout = TimeAmount(configuration.partialFrameTimeout)
        let connections = ManagedAtomic(0)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptBackoffHandler.logging(.control, logger))
                }
            }
        let initialize: @Sendable (any Channel) -> EventLoopFuture<Connection?> = { channel in
            let open = connections.wrappingIncrementThenLoad(ordering: .relaxed)
            metrics.connectionsControl.increment()
            channel.closeFuture.whenComplete { _ in
                connections.wrappingDecrement(ordering: .relaxed)
                metrics.connectionsControl.decrement()
            }
            guard open <= limit else {
                metrics.countRefusal(.controlConnectionLimit)
                StatusFrame.refuse(channel, .unavailable, "control connection limit of \(limit) reached")
                return channel.eventLoop.makeSucceededFuture(nil)
            }
            return PeerCredentials.admit(channel, by: socket.peers, on: .control, metrics: metrics).flatMapThrowing {
                peer in
                guard peer != nil else { return nil }  // refused: never read, never served
                try channel.pipeline.syncOperations.addHandler(
                    ByteToMessageHandler(
                        ControlFrameDecoder(
                            maximumLength: socket.maximumFrameLength,
                            timer: PartialFrameTimer(timeout: partialFrameTimeout, metrics: metrics)
                        )
                    )
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

/// The control socket's frame decoder: `FrameDecoder`, with the partial-frame timeout.
struct ControlFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = Frame

    var frames: FrameDecoder
    var timer: PartialFrameTimer

    init(maximumLength: Int, timer: PartialFrameTimer) {
        self.frames = FrameDecoder(maximumLength: maximumLength)
        self.timer = timer
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let frame = try frames.readFrame(from: &buffer)
        if let frame { context.fireChannelRead(wrapInboundOut(frame)) }
        let timeout = timer.timeout
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer.update(pendingBytes: buffer.readableBytes, completedFrame: frame != nil, eventLoop: context.eventLoop) {
            let context = loopBound.value
            let channel = context.channel
            let refusal = PartialFrameTimer.refusal(after: timeout)
            context.writeAndFlush(
                NIOAny(StatusFrame.make(status: refusal.status, message: refusal.message, allocator: channel.allocator))
            ).whenComplete { _ in channel.close(promise: nil) }
        }
        return frame == nil ? .needMoreData : .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        timer.stop()
        return try frames.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
    }

    mutating func decoderRemoved(context: ChannelHandlerContext) {
        timer.stop()
    }
}
