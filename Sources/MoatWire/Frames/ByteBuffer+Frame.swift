package import NIOCore

extension ByteBuffer {
    /// Appends `frame`, header and payload; returns the bytes written.
    @discardableResult
    package mutating func writeFrame(_ frame: Frame) -> Int {
        var payload = frame.payload
        return writeFrame(streamID: frame.streamID, method: frame.method, flags: frame.flags, status: frame.status) {
            $0.writeBuffer(&payload)
        }
    }

    /// Appends a frame whose payload `writePayload` encodes in place, after the header, so the
    /// message is packed once and never copied; the length field is filled in afterwards. If
    /// `writePayload` throws, nothing is left written.
    ///
    /// ```swift
    /// try out.writeFrame(streamID: request.streamID, method: .check, flags: .response, status: .ok) {
    ///     try decision.encode(into: &$0)
    /// }
    /// ```
    @discardableResult
    package mutating func writeFrame<Failure: Error>(
        streamID: UInt32,
        method: MethodID,
        flags: Frame.Flags = [],
        status: StatusCode = .ok,
        payload writePayload: (inout ByteBuffer) throws(Failure) -> Void
    ) throws(Failure) -> Int {
        let start = writerIndex
        writeInteger(UInt32(0))
        writeInteger(streamID)
        writeInteger(method.rawValue)
        writeInteger(flags.rawValue)
        writeInteger(status.rawValue)
        do {
            try writePayload(&self)
        } catch {
            moveWriterIndex(to: start)
            throw error
        }
        let length = writerIndex - start - Frame.lengthFieldSize
        precondition(UInt64(length) <= UInt64(UInt32.max), "a frame's length must fit in 32 bits")
        setInteger(UInt32(length), at: start)
        return writerIndex - start
    }
}
