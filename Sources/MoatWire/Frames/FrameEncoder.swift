public import NIOCore

/// Writes `Frame`s into the outbound byte stream (see `ByteBuffer.writeFrame`).
public struct FrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = Frame

    public init() {}

    public func encode(data: Frame, out: inout ByteBuffer) {
        out.writeFrame(data)
    }
}
