import MoatWire
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@Suite struct FrameDecoderTests {
    static func frameBytes(_ frame: Frame) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeFrame(frame)
        return buffer
    }

    static let sampleFrames: [Frame] = [
        Frame(streamID: 1, method: .check, payload: ByteBuffer(string: "request")),
        Frame(streamID: 0, method: .ping),
        Frame(
            streamID: .max,
            method: .checkBatch,
            flags: .response,
            status: .unavailable,
            payload: ByteBuffer(string: "e")
        ),
        Frame(
            streamID: 42,
            method: MethodID(rawValue: 200),
            flags: Frame.Flags(rawValue: 0xfe),
            status: StatusCode(rawValue: 0xffff)
        ),
        Frame(
            streamID: 7,
            method: .putDocument,
            payload: ByteBuffer(bytes: (0..<1000).map { UInt8(truncatingIfNeeded: $0) })
        ),
    ]

    @Test func verifierAcceptsTheDecoder() throws {
        let pairs = Self.sampleFrames.map { (Self.frameBytes($0), [$0]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            FrameDecoder(maximumLength: 2048)
        }
    }

    @Test func headerLayoutIsBigEndian() {
        let frame = Frame(
            streamID: 0x0102_0304,
            method: .checkBatch,
            flags: .response,
            status: .unavailable,
            payload: ByteBuffer(string: "xy")
        )
        let bytes = Array(Self.frameBytes(frame).readableBytesView)
        #expect(bytes == [0, 0, 0, 10, 1, 2, 3, 4, 2, 1, 0, 14, 0x78, 0x79])
        #expect(frame.length == 10)
    }

    @Test func manyFramesInOneBuffer() throws {
        var buffer = ByteBuffer()
        let frames = (0..<500).map {
            Frame(
                streamID: UInt32($0),
                method: .check,
                payload: ByteBuffer(string: String(repeating: "p", count: $0 % 17))
            )
        }
        for frame in frames {
            buffer.writeFrame(frame)
        }
        // Straight through readFrame...
        var copy = buffer
        let decoder = FrameDecoder(maximumLength: 64)
        var decoded: [Frame] = []
        while let frame = try decoder.readFrame(from: &copy) {
            decoded.append(frame)
        }
        #expect(decoded == frames)
        #expect(copy.readableBytes == 0)
        // ...and through a channel.
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maximumLength: 64)))
        try channel.writeInbound(buffer)
        for frame in frames {
            #expect(try channel.readInbound(as: Frame.self) == frame)
        }
        #expect(try channel.readInbound(as: Frame.self) == nil)
        #expect(try channel.finish().isClean)
    }

    @Test(arguments: [
        (UInt32(0), 64, FrameError.Code.frameTooShort, 8),
        (7, 64, .frameTooShort, 8),
        (65, 64, .frameTooLarge, 64),
        (65_537, 65_536, .frameTooLarge, 65_536),
        (.max, 64 * 1024 * 1024, .frameTooLarge, 64 * 1024 * 1024),
    ])
    func badLengthIsRefusedFromTheLengthFieldAlone(length: UInt32, maximum: Int, code: FrameError.Code, limit: Int) {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maximumLength: maximum)))
        defer { _ = try? channel.finish() }
        var header = ByteBuffer()
        header.writeInteger(length)
        // Only the 4 length bytes: nothing after them is needed (or buffered) to refuse the frame.
        let error = #expect(throws: FrameError.self) { try channel.writeInbound(header) }
        #expect(error?.code == code)
        #expect(error?.length == Int(length))
        #expect(error?.limit == limit)
        #expect(error?.status == (code == .frameTooLarge ? .resourceExhausted : .invalidArgument))
        #expect(error?.message.contains("\(limit)") == true)
    }

    @Test func lengthAtTheLimitIsAccepted() throws {
        let decoder = FrameDecoder(maximumLength: 64)
        var buffer = Self.frameBytes(
            Frame(streamID: 1, method: .check, payload: ByteBuffer(repeating: 0x41, count: 56))
        )
        #expect(try decoder.readFrame(from: &buffer)?.length == 64)
        var tooBig = Self.frameBytes(
            Frame(streamID: 1, method: .check, payload: ByteBuffer(repeating: 0x41, count: 57))
        )
        #expect(throws: FrameError.self) { try decoder.readFrame(from: &tooBig) }
    }

    @Test func partialFrameWaits() throws {
        let decoder = FrameDecoder(maximumLength: 64)
        let whole = Self.frameBytes(Self.sampleFrames[0])
        for cut in 0..<whole.readableBytes {
            var partial = whole.getSlice(at: whole.readerIndex, length: cut)!
            #expect(try decoder.readFrame(from: &partial) == nil)
            #expect(partial.readableBytes == cut, "nothing is consumed from a partial frame")
        }
    }

    @Test(arguments: [
        ([0, 0] as [UInt8], nil as Int?),
        ([0, 0, 0, 20], 20),
        ([0, 0, 0, 12, 0, 0, 0, 1, 1, 0, 0, 0, 0x61], 12),
    ])
    func truncatedFrameAtEOFIsAnError(bytes: [UInt8], length: Int?) throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maximumLength: 64)))
        var input = Self.frameBytes(Self.sampleFrames[1])
        input.writeBytes(bytes)
        try channel.writeInbound(input)
        #expect(try channel.readInbound(as: Frame.self) == Self.sampleFrames[1])
        let error = #expect(throws: FrameError.self) { try channel.finish() }
        #expect(error?.code == .truncatedFrame)
        #expect(error?.length == length)
        #expect(error?.receivedBytes == bytes.count)
    }

    @Test func cleanEOFIsNotAnError() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maximumLength: 64)))
        try channel.writeInbound(Self.frameBytes(Self.sampleFrames[0]))
        #expect(try channel.readInbound(as: Frame.self) == Self.sampleFrames[0])
        #expect(try channel.finish().isClean)
    }
}
