import MoatWire
import NIOCore

/// A response frame on stream 0, method 0, carrying only an error: how the daemon refuses a
/// connection (peer not allowed, connection limit) or a frame it cannot attribute to a stream.
enum StatusFrame {
    /// How long a refused connection is kept, half closed, for the peer to read the refusal.
    static let refusalLinger = TimeAmount.milliseconds(250)

    static func make(status: StatusCode, message: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var payload = StatusError(code: status, message: message).payload(allocator)
        var out = allocator.buffer(capacity: Frame.headerSize + payload.readableBytes)
        out.writeFrame(streamID: 0, method: MethodID(rawValue: 0), flags: .response, status: status) {
            $0.writeBuffer(&payload)
        }
        return out
    }

    /// Refuses a new connection: sends the frame, shuts the connection's output, discards what the
    /// peer sends until it closes or `refusalLinger` passes, then closes. Closing at once would
    /// race the peer's first request: a Unix socket closed with unread data resets its peer, which
    /// may then fail before it reads the refusal (docs/protocol.md, "Refused connections"). Returns
    /// at once: a connection initializer must not wait for the write, which completes only once
    /// the channel is active.
    static func refuse(_ channel: any Channel, _ status: StatusCode, _ message: String) {
        channel.eventLoop.execute {
            // Nothing else is in the pipeline: a refused connection is never served.
            try? channel.pipeline.syncOperations.addHandler(RefusedConnectionDrain())
            channel.writeAndFlush(make(status: status, message: message, allocator: channel.allocator))
                .whenComplete { _ in channel.close(mode: .output, promise: nil) }
            channel.eventLoop.scheduleTask(in: refusalLinger) { channel.close(promise: nil) }
        }
    }
}

/// Discards a refused peer's bytes; its end of input closes the channel (remote half-closure is
/// not allowed on the daemon's sockets).
private final class RefusedConnectionDrain: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
