import MoatWire
import NIOCore
import NIOPosix
import Synchronization

/// One connection to a daemon socket, with any number of calls in flight (pipelining): each call
/// gets a stream id, and answers are matched by it whatever their order.
final class MoatConnection: Sendable {
    let channel: any Channel
    /// The largest request frame (its length field N) the daemon accepts on this socket.
    private let maximumRequestLength: Int
    /// Why the daemon refused this connection (a stream-0 status), kept after the channel closes
    /// so that every later call reports it rather than "connection closed".
    private let refusal: RefusalBox

    private init(channel: any Channel, maximumRequestLength: Int, refusal: RefusalBox) {
        self.channel = channel
        self.maximumRequestLength = maximumRequestLength
        self.refusal = refusal
    }

    /// Connects to `socketPath`. Requests whose frame would be longer than `maximumRequestLength`
    /// are refused without being sent (the daemon would close the connection, failing every call
    /// on it); answers longer than `maximumAnswerLength` are refused.
    static func connect(
        socketPath: String,
        group: any EventLoopGroup,
        maximumRequestLength: Int,
        maximumAnswerLength: Int
    ) async throws(MoatClientError) -> MoatConnection {
        let refusal = RefusalBox()
        do {
            // Connected by hand: NIO's own connect refuses paths over 103 bytes, the kernel takes 107.
            let fd = try UnixDomainSocket.connect(to: socketPath)
            let channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(ByteToMessageHandler(FrameDecoder(maximumLength: maximumAnswerLength)))
                        try sync.addHandler(ResponseDispatcher(refusal: refusal))
                    }
                }
                .withConnectedSocket(fd)
                .get()
            return MoatConnection(channel: channel, maximumRequestLength: maximumRequestLength, refusal: refusal)
        } catch {
            throw MoatClientError(
                code: .unreachable,
                message: "cannot connect to '\(socketPath)': \(error)",
                status: .unavailable,
                underlyingError: error
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
            throw .unencodable(error)
        }
        try Self.refuseOversized(frameLength: Frame.minimumLength + payload.readableBytes, limit: maximumRequestLength)
        if let refused = refusal.error { throw refused }
        guard channel.isActive else {
            throw MoatClientError.connectionClosed
        }
        let promise = channel.eventLoop.makePromise(of: Frame.self)
        // The deadline holds even if the request never reaches the dispatcher (the channel closed
        // in between): completing a promise twice does nothing.
        let timeout = deadline.map { deadline in
            channel.eventLoop.scheduleTask(deadline: deadline) {
                promise.fail(
                    MoatClientError(
                        code: .deadlineExceeded,
                        message: "no answer within the deadline",
                        status: .deadlineExceeded
                    )
                )
            }
        }
        let outgoing = Outgoing(method: method, payload: payload, promise: promise)
        channel.pipeline.fireUserInboundEventTriggered(outgoing)
        defer { timeout?.cancel() }
        let frame: Frame
        do {
            frame = try await promise.futureResult.get()
        } catch let error as MoatClientError {
            throw error
        } catch {
            throw MoatClientError(
                code: .connectionClosed,
                message: "the connection failed: \(error)",
                status: .unavailable,
                underlyingError: error
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

    /// Refuses a request whose frame (length field N) would be over the daemon's `limit`.
    static func refuseOversized(frameLength: Int, limit: Int) throws(MoatClientError) {
        guard frameLength > limit else { return }
        throw MoatClientError(
            code: .requestRefused,
            message:
                "the request's frame of \(frameLength) bytes is over the daemon's limit of \(limit) bytes (Configuration.maximumRequestFrameLength); not sent",
            status: .resourceExhausted
        )
    }
}

/// A request handed to the connection's event loop (as an inbound user event, so that stream
/// ids and the table of waiting calls are only ever touched on that loop).
struct Outgoing: Sendable {
    let method: MethodID
    let payload: ByteBuffer
    let promise: EventLoopPromise<Frame>
}

/// The daemon's connection-level refusal, shared between the connection and its dispatcher.
final class RefusalBox: Sendable {
    private let value = Mutex<MoatClientError?>(nil)

    var error: MoatClientError? { value.withLock { $0 } }

    func record(_ error: MoatClientError) {
        value.withLock { if $0 == nil { $0 = error } }
    }
}

/// Writes requests with fresh stream ids and completes each waiting call with its answer.
private final class ResponseDispatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer

    private let refusal: RefusalBox
    private var nextStreamID: UInt32 = 1
    private var waiting: [UInt32: EventLoopPromise<Frame>] = [:]
    private var closed = false

    init(refusal: RefusalBox) {
        self.refusal = refusal
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let outgoing = event as? Outgoing else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard !closed else {
            outgoing.promise.fail(
                refusal.error
                    ?? .connectionClosed
            )
            return
        }
        let streamID = nextStreamID
        nextStreamID = nextStreamID == UInt32.max ? 1 : nextStreamID + 1
        waiting[streamID] = outgoing.promise
        // A call that times out stops waiting; a late answer is then dropped.
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        outgoing.promise.futureResult.whenFailure { _ in loopBound.value.waiting[streamID] = nil }
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
            refusal.record(MoatClientError(error))
            failAll(MoatClientError(error))
            return
        }
        waiting.removeValue(forKey: frame.streamID)?.succeed(frame)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(
            refusal.error
                ?? MoatClientError(
                    code: .connectionClosed,
                    message: "the daemon closed the connection",
                    status: .unavailable
                )
        )
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(
            refusal.error
                ?? .connectionClosed
        )
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(.unreadableAnswer(error))
        context.close(promise: nil)
    }

    private func failAll(_ error: MoatClientError) {
        closed = true
        let promises = waiting.values
        waiting.removeAll()
        for promise in promises { promise.fail(error) }
    }
}
