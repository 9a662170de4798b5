package import NIOCore

/// Splits a byte stream into `Frame`s, refusing a frame whose length field is over `maximumLength`
/// as soon as the 4 length bytes are in, so nothing of its size is ever buffered.
///
/// It does not judge flags or status (see `Frame.requestHeaderViolation`). Errors are `FrameError`s
/// and are fatal for the connection; bytes left at EOF are a `.truncatedFrame`.
///
/// ```swift
/// try channel.pipeline.syncOperations.addHandler(
///     ByteToMessageHandler(FrameDecoder(maximumLength: SocketKind.data.defaultMaximumFrameLength))
/// )
/// ```
package struct FrameDecoder: ByteToMessageDecoder {
    package typealias InboundOut = Frame

    /// The largest length field N accepted (N counts everything after the length field).
    package let maximumLength: Int

    /// - Parameter maximumLength: at least `Frame.minimumLength` (8), at most `UInt32.max`.
    package init(maximumLength: Int) {
        precondition(
            maximumLength >= Frame.minimumLength && UInt64(maximumLength) <= UInt64(UInt32.max),
            "a frame's maximum length must be between 8 and 2^32 - 1"
        )
        self.maximumLength = maximumLength
    }

    /// Reads one frame from the front of `buffer`; `nil` (nothing consumed) until a whole frame is in.
    package func readFrame(from buffer: inout ByteBuffer) throws(FrameError) -> Frame? {
        guard let declared = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        let length = Int(declared)
        guard length >= Frame.minimumLength else { throw .tooShort(length: length) }
        guard length <= maximumLength else { throw .tooLarge(length: length, limit: maximumLength) }
        guard buffer.readableBytes >= Frame.lengthFieldSize + length else { return nil }

        buffer.moveReaderIndex(forwardBy: Frame.lengthFieldSize)
        // The header is known to be there: these reads cannot fail.
        let streamID = buffer.readInteger(as: UInt32.self)!
        let method = buffer.readInteger(as: UInt8.self)!
        let flags = buffer.readInteger(as: UInt8.self)!
        let status = buffer.readInteger(as: UInt16.self)!
        let payload = buffer.readSlice(length: length - Frame.minimumLength)!
        return Frame(
            streamID: streamID,
            method: MethodID(rawValue: method),
            flags: Frame.Flags(rawValue: flags),
            status: StatusCode(rawValue: status),
            payload: payload
        )
    }

    package mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try readFrame(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    package mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        if let frame = try readFrame(from: &buffer) {
            context.fireChannelRead(wrapInboundOut(frame))
            return .continue
        }
        if seenEOF, buffer.readableBytes > 0 {
            let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self).map { Int($0) }
            throw FrameError.truncated(length: length, receivedBytes: buffer.readableBytes)
        }
        return .needMoreData
    }
}
