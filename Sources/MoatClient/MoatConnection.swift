import Atomics
import MoatWire
import NIOCore
import NIOPosix

/// One connection to a daemon socket, with any number of calls in flight (pipelining): each call
/// gets a stream id, and answers are matched by it whatever their order.
final class MoatConnection: Sendable {
    let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects to `socketPath`; answers larger than `maximumFrameLength` are refused.
    static func connect(
        socketPath: String,
        group: any EventLoopGroup,
        maximumFrameLength: Int
    ) async throws(MoatClientError) -> MoatConnection {
        do {
            let channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(ByteToMessageHandler(FrameDecoder(maximumLength: maximumFrameLength)))
                        try sync.addHandler(ResponseDispatcher())
                    }
                }
                .connect(unixDomainSocketPath: socketPath)
                .get()
            return MoatConnection(channel: channel)
        } catch {
            throw MoatClientError(
                code: .unreachable,
                message: "cannot connect to '\(socketPath)': \(error)",
                status: .unavailable
            )
        }
    }

    var isActive: Bool { channel.isActive }

    /// Sends one request and waits for its answer's payload (a non-zero status throws).
    func call(
        _ method: MethodID,
        _ request: some WireMessage,
        deadline: NIODeadline?
    ) async throws(MoatClientError) -> ByteBuffer {
        var payload = channel.allocator.buffer(capacity: 256)
        do {
            try request.encode(into: &payload)
        } catch {
            throw MoatClientError(
                code: .protocolViolation,
                message: "cannot encode the request: \(error.message)",
                status: .invalidArgument
            )
        }
        let promise = channel.eventLoop.makePromise(of: Frame.self)
        let outgoing = Outgoing(method: method, payload: payload, promise: promise, deadline: deadline)
        channel.pipeline.fireUserInboundEventTriggered(outgoing)
        let frame: Frame
        do {
            frame = try await promise.futureResult.get()
        } catch let error as MoatClientError {
            throw error
        } catch {
            throw MoatClientError(
                code: .connectionClosed,
                message: "the connection failed: \(error)",
                status: .unavailable
            )
        }
        guard frame.status == .ok else {
            let error =
                (try? StatusError(wirePayload: frame.payload))
                ?? StatusError(code: frame.status, message: "the daemon answered \(frame.status)")
            throw MoatClientError(error)
        }
        return frame.payload
    }

    func close() async {
        try? await channel.close()
    }
}

/// A request handed to the connection's event loop (as an inbound user event, so that stream
/// ids and the table of waiting calls are only ever touched on that loop).
struct Outgoing: Sendable {
    let method: MethodID
    let payload: ByteBuffer
    let promise: EventLoopPromise<Frame>
    let deadline: NIODeadline?
}

/// Writes requests with fresh stream ids and completes each waiting call with its answer.
private final class ResponseDispatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer

    private var nextStreamID: UInt32 = 1
    private var waiting: [UInt32: (promise: EventLoopPromise<Frame>, timeout: Scheduled<Void>?)] = [:]
    private var closed = false

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let outgoing = event as? Outgoing else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard !closed else {
            outgoing.promise.fail(
                MoatClientError(code: .connectionClosed, message: "the connection is closed", status: .unavailable)
            )
            return
        }
        let streamID = nextStreamID
        nextStreamID = nextStreamID == UInt32.max ? 1 : nextStreamID + 1
        var timeout: Scheduled<Void>?
        if let deadline = outgoing.deadline {
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            timeout = context.eventLoop.scheduleTask(deadline: deadline) {
                loopBound.value.waiting.removeValue(forKey: streamID)?.promise.fail(
                    MoatClientError(
                        code: .deadlineExceeded,
                        message: "no answer within the deadline",
                        status: .deadlineExceeded
                    )
                )
            }
        }
        waiting[streamID] = (outgoing.promise, timeout)
        var payload = outgoing.payload
        var out = context.channel.allocator.buffer(capacity: Frame.headerSize + payload.readableBytes)
        out.writeFrame(streamID: streamID, method: outgoing.method) { $0.writeBuffer(&payload) }
        context.writeAndFlush(NIOAny(out), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if frame.streamID == 0 && frame.status != .ok {
            // A connection-level refusal (peer not allowed, connection limit, a framing error).
            let error =
                (try? StatusError(wirePayload: frame.payload))
                ?? StatusError(code: frame.status, message: "refused: \(frame.status)")
            failAll(MoatClientError(error))
            return
        }
        guard let entry = waiting.removeValue(forKey: frame.streamID) else { return }
        entry.timeout?.cancel()
        entry.promise.succeed(frame)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(
            MoatClientError(code: .connectionClosed, message: "the daemon closed the connection", status: .unavailable)
        )
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let message = (error as? FrameError)?.message ?? "\(error)"
        failAll(
            MoatClientError(code: .protocolViolation, message: "unreadable answer: \(message)", status: .internalError)
        )
        context.close(promise: nil)
    }

    private func failAll(_ error: MoatClientError) {
        closed = true
        let entries = waiting
        waiting.removeAll()
        for entry in entries.values {
            entry.timeout?.cancel()
            entry.promise.fail(error)
        }
    }
}
