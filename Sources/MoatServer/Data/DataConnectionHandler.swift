import MoatWire
import NIOCore

/// One data-socket connection on its event loop: reads frames, has `DataRequestProcessor` answer
/// each on this loop as it arrives, writes the answers (flushed once per read burst, so pipelined
/// requests share system calls).
///
/// Back-pressure: while the socket is not writable (the client does not take its answers), no
/// more is read. A frame larger than the limit is refused as soon as its length is read, before
/// its payload; a frame begun but not finished within the partial-frame timeout closes the
/// connection.
final class DataConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var processor: DataRequestProcessor
    private let decoder: FrameDecoder
    private let partialFrameTimeout: TimeAmount
    private let metrics: ServerMetrics
    private var buffer: ByteBuffer?
    private var partialFrameTimer: Scheduled<Void>?
    private var readPending = false
    private var closing = false

    init(
        processor: DataRequestProcessor,
        maximumFrameLength: Int,
        partialFrameTimeout: TimeAmount,
        metrics: ServerMetrics
    ) {
        self.processor = processor
        self.decoder = FrameDecoder(maximumLength: maximumFrameLength)
        self.partialFrameTimeout = partialFrameTimeout
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let arrival = NIODeadline.now()
        var incoming = unwrapInboundIn(data)
        if buffer == nil || buffer!.readableBytes == 0 {
            buffer = incoming
        } else {
            buffer!.writeBuffer(&incoming)
        }
        var completedFrames = false
        while !closing {
            let frame: Frame?
            do {
                frame = try decoder.readFrame(from: &buffer!)
            } catch {
                metrics.countRefusal(error.code == .frameTooLarge ? .frameTooLarge : .malformedFrame)
                refuse(context: context, status: error.status, message: error.message)
                return
            }
            guard let frame else { break }
            completedFrames = true
            let reply = processor.answer(frame, arrival: arrival, allocator: context.channel.allocator)
            var out = context.channel.allocator.buffer(capacity: Frame.headerSize + reply.frame.payload.readableBytes)
            out.writeFrame(reply.frame)
            if reply.closesConnection {
                metrics.countRefusal(.malformedFrame)
                closeAfter(writing: out, context: context)
            } else {
                context.write(wrapOutboundOut(out), promise: nil)
            }
        }
        if let readable = buffer?.readableBytes, readable > 0 {
            buffer!.discardReadBytes()
            // The timeout is per frame: a frame completed in this read restarts it for the next.
            if completedFrames {
                partialFrameTimer?.cancel()
                partialFrameTimer = nil
            }
            if partialFrameTimer == nil { startPartialFrameTimer(context: context) }
        } else {
            partialFrameTimer?.cancel()
            partialFrameTimer = nil
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            readPending = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && readPending {
            readPending = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let idle as IdleStateHandler.IdleStateEvent where idle == .all:
            metrics.countRefusal(.idleTimeout)
            context.close(promise: nil)
        case is ChannelShouldQuiesceEvent:
            // Drain: everything read so far has been answered; write it out, then close.
            closeAfter(writing: context.channel.allocator.buffer(capacity: 0), context: context)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        partialFrameTimer?.cancel()
        partialFrameTimer = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Writes `last` after everything written before it, then closes; reads nothing more.
    private func closeAfter(writing last: ByteBuffer, context: ChannelHandlerContext) {
        closing = true
        partialFrameTimer?.cancel()
        partialFrameTimer = nil
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(last)).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Answers a framing error on stream 0 (the frame's own id may be unreadable) and closes.
    private func refuse(context: ChannelHandlerContext, status: StatusCode, message: String) {
        closeAfter(
            writing: StatusFrame.make(status: status, message: message, allocator: context.channel.allocator),
            context: context
        )
    }

    private func startPartialFrameTimer(context: ChannelHandlerContext) {
        let seconds = partialFrameTimeout.nanoseconds / 1_000_000_000
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        partialFrameTimer = context.eventLoop.scheduleTask(in: partialFrameTimeout) {
            let (handler, context) = loopBound.value
            handler.partialFrameTimer = nil
            handler.metrics.countRefusal(.partialFrameTimeout)
            handler.refuse(
                context: context,
                status: .invalidArgument,
                message: "a frame was begun but not completed within \(seconds) s"
            )
        }
    }
}
