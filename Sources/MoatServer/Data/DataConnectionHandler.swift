import MoatWire
import NIOCore

/// One data-socket connection on its event loop: reads frames, has `DataRequestProcessor` answer
/// each on this loop as it arrives, straight into one outbound buffer, and writes the answers of a
/// read burst together (flushed once per burst, so pipelined requests share system calls). The
/// buffer is the connection's own and reused once written out, so answering allocates nothing
/// (docs/performance.md, "Cuts").
///
/// Back-pressure (docs/protocol.md "Limits"): answers are written only while the channel is
/// writable, that is while its unsent answers stay under the high water mark (256 KiB). A burst's
/// answers are gathered (written whenever `writeChunk` bytes of them wait) only while nothing
/// written before waits unsent; while the client is behind, each answer is written on its own.
/// When a client stops taking its answers, the frames it sent beyond that stay unanswered in the
/// read buffer, nothing more is read, and answering resumes when the socket drains; so a
/// connection holds at most one read burst of requests and the high water mark plus one answer of
/// replies, whatever the client sends. A frame larger than the limit is refused as soon as its length is
/// read, before its payload; a frame begun but not finished within the partial-frame timeout
/// closes the connection (the timer stops while the daemon itself holds back).
///
/// The idle timeout (docs/protocol.md "Limits", `--idle-timeout`): a connection that reads nothing
/// and whose client takes no answers for that long is closed. The handler notes the time of each
/// read and each time the socket drains, and one scheduled check compares: it closes, or waits
/// until the timeout after the last activity. (NIO's `IdleStateHandler` would make a promise on
/// every write: docs/performance.md, "Cuts".)
final class DataConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Answers gathered within a read burst are written once this many bytes of them wait.
    static let writeChunk = 16 * 1024

    private var processor: DataRequestProcessor
    private let decoder: FrameDecoder
    private let metrics: ServerMetrics
    private var partialFrameTimer: PartialFrameTimer
    private let idleTimeout: TimeAmount?
    /// When bytes were last read or the socket last drained, on the event loop's clock.
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    private var idleCheck: Scheduled<Void>?
    /// Bytes read and not yet answered: the rest of a frame, or frames held back by back-pressure.
    private var buffer: ByteBuffer?
    /// When the last bytes were read: the arrival of the frames they complete (a request's
    /// `timeout_micros` counts from it, so frames held back by back-pressure age meanwhile).
    private var arrival = NIODeadline.now()
    private var readPending = false
    /// Answers not yet written: the connection's outbound buffer, reused once the write is out.
    private var outbound = ByteBuffer()
    /// Answers written since the last flush.
    private var unflushed = false
    /// The daemon drains: answer what has been read, then close.
    private var quiescing = false
    private var closing = false

    init(
        processor: DataRequestProcessor,
        maximumFrameLength: Int,
        partialFrameTimeout: TimeAmount,
        idleTimeout: TimeAmount?,
        metrics: ServerMetrics
    ) {
        self.processor = processor
        self.decoder = FrameDecoder(maximumLength: maximumFrameLength)
        self.metrics = metrics
        self.partialFrameTimer = PartialFrameTimer(timeout: partialFrameTimeout, metrics: metrics)
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startIdleCheck(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startIdleCheck(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing, !quiescing else { return }
        arrival = NIODeadline.now()
        if idleTimeout != nil { lastActivity = context.eventLoop.now }
        var incoming = unwrapInboundIn(data)
        if buffer == nil || buffer!.readableBytes == 0 {
            buffer = incoming
        } else {
            buffer!.writeBuffer(&incoming)
        }
        answerBuffered(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded(context: context)
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable && !closing {
            context.read()
        } else {
            readPending = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            // The client took answers: the connection is not idle.
            if idleTimeout != nil { lastActivity = context.eventLoop.now }
            answerBuffered(context: context)
            flushIfNeeded(context: context)
            if context.channel.isWritable && readPending && !closing {
                readPending = false
                context.read()
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelShouldQuiesceEvent:
            // Drain: answer every frame read so far (the processor answers UNAVAILABLE now), write
            // it out, then close.
            quiescing = true
            answerBuffered(context: context)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        partialFrameTimer.stop()
        idleCheck?.cancel()
        idleCheck = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Answers the complete frames in the buffer while the channel is writable; leaves the rest
    /// for when it is writable again.
    private func answerBuffered(context: ChannelHandlerContext) {
        var completedFrame = false
        resetOutbound(context: context)
        // While answers already written wait unsent (the client is behind), each answer is written
        // on its own, so that writability, and with it the back-pressure, follows every answer.
        // Asked once per burst, and only when a second frame is answered in it.
        var clientBehind: Bool?
        while !closing, context.channel.isWritable, buffer != nil {
            let frame: Frame?
            let start = buffer!.readerIndex
            do {
                frame = try decoder.readFrame(from: &buffer!)
            } catch {
                metrics.countRefusal(error.code == .frameTooLarge ? .frameTooLarge : .malformedFrame)
                writeOutbound(context: context)
                refuse(context: context, status: error.status, message: error.message)
                return
            }
            guard let frame else { break }
            if outbound.readableBytes > 0 {
                let behind =
                    clientBehind ?? (((try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0) > 0)
                clientBehind = behind
                if behind {
                    writeOutbound(context: context)
                    resetOutbound(context: context)
                    if !context.channel.isWritable {
                        // Held back: the frame stays in the buffer, unanswered.
                        buffer!.moveReaderIndex(to: start)
                        break
                    }
                }
            }
            completedFrame = true
            if processor.answer(frame, arrival: arrival, into: &outbound) {
                metrics.countRefusal(.malformedFrame)
                closeAfter(writing: outbound, context: context)
                return
            }
            if outbound.readableBytes >= Self.writeChunk {
                writeOutbound(context: context)
                resetOutbound(context: context)
            }
        }
        guard !closing else { return }
        writeOutbound(context: context)
        let pending = buffer?.readableBytes ?? 0
        if pending > 0 {
            buffer!.discardReadBytes()
        } else {
            // Let go of the read buffer, so the channel reads into it again (NIO's pooled receive
            // buffer is reused only when nothing else holds it).
            buffer = nil
        }
        if !context.channel.isWritable {
            // Held back by the daemon, not the client: the partial-frame timer waits. The idle
            // timeout still ends a connection whose client never takes its answers.
            partialFrameTimer.stop()
            flushIfNeeded(context: context)
            return
        }
        if quiescing {
            closeAfter(writing: context.channel.allocator.buffer(capacity: 0), context: context)
            return
        }
        guard pending > 0 else {
            // No partial frame: no timer, and no closure to allocate for one.
            partialFrameTimer.stop()
            return
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        partialFrameTimer.update(pendingBytes: pending, completedFrame: completedFrame, eventLoop: context.eventLoop) {
            let (handler, context) = loopBound.value
            let refusal = PartialFrameTimer.refusal(after: handler.partialFrameTimer.timeout)
            handler.refuse(context: context, status: refusal.status, message: refusal.message)
        }
    }

    /// Starts the idle check, the connection counting as active now; once started, does nothing.
    private func startIdleCheck(context: ChannelHandlerContext) {
        guard idleTimeout != nil, idleCheck == nil else { return }
        lastActivity = context.eventLoop.now
        scheduleIdleCheck(context: context)
    }

    /// Checks at the idle timeout after the last activity: closes if nothing happened since, or
    /// checks again at the timeout after the activity that did.
    private func scheduleIdleCheck(context: ChannelHandlerContext) {
        guard let idleTimeout else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleCheck = context.eventLoop.scheduleTask(deadline: lastActivity + idleTimeout) {
            let (handler, context) = loopBound.value
            if context.eventLoop.now < handler.lastActivity + idleTimeout {
                handler.scheduleIdleCheck(context: context)
            } else {
                handler.metrics.countRefusal(.idleTimeout)
                context.close(promise: nil)
            }
        }
    }

    /// Writes the answers gathered in `outbound`, if any. `outbound` must be emptied
    /// (`resetOutbound`) before the next are gathered.
    private func writeOutbound(context: ChannelHandlerContext) {
        guard outbound.readableBytes > 0 else { return }
        context.write(wrapOutboundOut(outbound), promise: nil)
        unflushed = true
    }

    /// Empties `outbound`. Its storage is reused when the last write of it is out, as it is by the
    /// next read burst (then nothing is allocated); while the channel still holds it, or when a
    /// large answer grew it past four chunks, a new one is taken.
    private func resetOutbound(context: ChannelHandlerContext) {
        if outbound.capacity > 4 * Self.writeChunk {
            outbound = context.channel.allocator.buffer(capacity: 0)
        } else {
            outbound.clear()
        }
    }

    private func flushIfNeeded(context: ChannelHandlerContext) {
        guard unflushed else { return }
        unflushed = false
        context.flush()
    }

    /// Writes `last` after everything written before it, then closes; reads nothing more.
    private func closeAfter(writing last: ByteBuffer, context: ChannelHandlerContext) {
        closing = true
        unflushed = false
        partialFrameTimer.stop()
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
}
