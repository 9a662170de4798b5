import NIOCore

/// The limits of one HTTP connection, enforced on its bytes before the HTTP decoder sees them:
/// the connection lives at most `timeout` from accept (a request not in by then is answered
/// 408; an answer the client has not taken by then is abandoned), its request is at most
/// `maximumRequestBytes` (431 beyond), and a connection over `--http-max-connections` is
/// answered 503 at once. With one answer per connection (`HTTPRequestHandler` closes after it),
/// a slow, silent or flooding client holds one connection for at most `timeout`, and at most
/// one answer's memory.
final class HTTPConnectionLimits: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private enum State {
        /// No answer yet.
        case waiting
        /// The request handler's answer (or the HTTP codec's 400) is being written.
        case answering
        /// Refused here; whatever the request handler writes later is dropped.
        case refused
    }

    private let timeout: TimeAmount
    private let maximumRequestBytes: Int
    private let overCapacity: Bool
    private var state = State.waiting
    private var received = 0
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount, maximumRequestBytes: Int, overCapacity: Bool) {
        self.timeout = timeout
        self.maximumRequestBytes = maximumRequestBytes
        self.overCapacity = overCapacity
    }

    func channelActive(context: ChannelHandlerContext) {
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            if self.state == .waiting {
                self.refuse(context, 408, "Request Timeout", "the request did not arrive in time (--http-timeout)")
            } else {
                context.close(promise: nil)
            }
        }
        if overCapacity {
            refuse(context, 503, "Service Unavailable", "too many HTTP connections are open (--http-max-connections)")
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state == .waiting else { return }
        received += unwrapInboundIn(data).readableBytes
        guard received <= maximumRequestBytes else {
            refuse(
                context,
                431,
                "Request Header Fields Too Large",
                "the request is larger than \(maximumRequestBytes) bytes"
            )
            return
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard state != .refused else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        state = .answering
        context.write(data, promise: promise)
    }

    /// Answers `status` with `message` as plain text, unless an answer has begun, and closes.
    private func refuse(_ context: ChannelHandlerContext, _ status: Int, _ reason: String, _ message: String) {
        guard state == .waiting else { return }
        state = .refused
        let body = message + "\n"
        let text =
            "HTTP/1.1 \(status) \(reason)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(context.channel.allocator.buffer(string: text))))
            .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
