import MoatWire
import NIOCore

/// A response frame on stream 0, method 0, carrying only an error: how the daemon refuses a
/// connection (peer not allowed, connection limit) or a frame it cannot attribute to a stream.
enum StatusFrame {
    static func make(status: StatusCode, message: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var payload = StatusError(code: status, message: message).payload(allocator)
        var out = allocator.buffer(capacity: Frame.headerSize + payload.readableBytes)
        out.writeFrame(streamID: 0, method: MethodID(rawValue: 0), flags: .response, status: status) {
            $0.writeBuffer(&payload)
        }
        return out
    }

    /// Refuses a new connection: sends the frame, then closes. Returns at once: a connection
    /// initializer must not wait for the write, which completes only once the channel is active.
    static func refuse(_ channel: any Channel, _ status: StatusCode, _ message: String) {
        channel.writeAndFlush(make(status: status, message: message, allocator: channel.allocator))
            .whenComplete { _ in channel.close(promise: nil) }
    }
}
