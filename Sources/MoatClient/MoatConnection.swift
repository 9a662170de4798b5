import MoatSockets
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
        let outgoing = Outgoing(method: method, payload: payload, deadline: deadline, promise: promise)
        // A write that cannot be made (the channel closed meanwhile) fails the call; completing a
        // promise the dispatcher already completed does nothing.
        channel.writeAndFlush(outgoing).whenFailure { error in
            promise.fail(
                MoatClientError(
                    code: .connectionClosed,
                    message: "the request could not be sent: \(error)",
                    status: .unavailable,
                    underlyingError: error
                )
            )
        }
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

/// A request written to the connection's channel (an outbound message the dispatcher turns into
/// a frame, so that stream ids and the table of waiting calls are only ever touched on its loop).
struct Outgoing: Sendable {
    let method: MethodID
    let payload: ByteBuffer
    /// When the call stops waiting (DEADLINE_EXCEEDED); nil: it waits until the connection closes.
    let deadline: NIODeadline?
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

/// Writes requests with fresh stream ids and completes each waiting call with its answer, or
/// with DEADLINE_EXCEEDED at its deadline (a late answer is then dropped).
final class ResponseDispatcher: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = Outgoing
    typealias OutboundOut = ByteBuffer

    private struct Waiting {
        let promise: EventLoopPromise<Frame>
        let timeout: Scheduled<Void>?
    }

    private let refusal: RefusalBox
    /// The id the next request gets, unless it is still waiting (internal for tests of the wrap-around).
    var nextStreamID: UInt32 = 1
    private var waiting: [UInt32: Waiting] = [:]
    private var closed = false

    init(refusal: RefusalBox) {
        self.refusal = refusal
    }

    /// Calls waiting for their answer.
    var waitingCount: Int { waiting.count }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let outgoing = unwrapOutboundIn(data)
        guard !closed else {
            outgoing.promise.fail(refusal.error ?? .connectionClosed)
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let streamID = takeStreamID()
        let timeout = outgoing.deadline.map { deadline in
            context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
                guard let call = self.waiting.removeValue(forKey: streamID) else { return }
                call.promise.fail(
                    MoatClientError(
                        code: .deadlineExceeded,
                        message: "no answer within the deadline",
                        status: .deadlineExceeded
                    )
                )
            }
        }
        waiting[streamID] = Waiting(promise: outgoing.promise, timeout: timeout)
        var payload = outgoing.payload
        var out = context.channel.allocator.buffer(capacity: Frame.headerSize + payload.readableBytes)
        out.writeFrame(streamID: streamID, method: outgoing.method) { $0.writeBuffer(&payload) }
        context.write(wrapOutboundOut(out), promise: promise)
    }

    /// The next stream id: never 0 (connection-level answers), and after the wrap-around never
    /// one still waiting for its answer.
    private func takeStreamID() -> UInt32 {
        var streamID = nextStreamID
        while waiting[streamID] != nil { streamID = streamID == UInt32.max ? 1 : streamID + 1 }
        nextStreamID = streamID == UInt32.max ? 1 : streamID + 1
        return streamID
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
        guard let call = waiting.removeValue(forKey: frame.streamID) else { return }
        call.timeout?.cancel()
        call.promise.succeed(frame)
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
        let calls = waiting.values
        waiting.removeAll()
        for call in calls {
            call.timeout?.cancel()
            call.promise.fail(error)
        }
    }
}
