import Atomics
import MoatCore
import MoatIdentity
import MoatWire
import NIOCore
import NIOEmbedded
import Testing

@testable import MoatServer

@Suite("A data connection on its event loop")
struct DataConnectionHandlerTests {
    static func channel(maximumFrameLength: Int = 1024) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let rules = try LoadedRules(json: Fixture.document(), sequence: 1)
        let store = RuleStore()
        store.publish(ServingState(rules: rules, document: Fixture.document(), loadedAtMillis: 0))
        let metrics = ServerMetrics()
        let processor = DataRequestProcessor(
            store: store,
            tokenCache: TokenCache(eventLoop: channel.embeddedEventLoop, maximumBytes: 1 << 20, metrics: metrics),
            metrics: metrics,
            decisionLog: nil,
            draining: ManagedAtomic(false),
            peer: nil,
            trustsAssertedIdentity: false,
            sampling: 1
        )
        try channel.pipeline.syncOperations.addHandler(
            DataConnectionHandler(
                processor: processor,
                maximumFrameLength: maximumFrameLength,
                partialFrameTimeout: .seconds(2),
                metrics: metrics
            )
        )
        try channel.connect(to: SocketAddress(unixDomainSocketPath: "/tmp/x")).wait()
        return channel
    }

    static func ping(_ streamID: UInt32) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeFrame(Frame(streamID: streamID, method: .ping, flags: [], status: .ok, payload: ByteBuffer()))
        return buffer
    }

    static func answers(_ channel: EmbeddedChannel) throws -> [Frame] {
        var frames: [Frame] = []
        let decoder = FrameDecoder(maximumLength: 1 << 20)
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            while let frame = try decoder.readFrame(from: &buffer) { frames.append(frame) }
        }
        return frames
    }

    @Test("frames arriving one byte at a time are answered")
    func byteAtATime() throws {
        let channel = try Self.channel()
        for byte in Self.ping(5).readableBytesView {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        #expect(try Self.answers(channel).map(\.streamID) == [5])
    }

    @Test("pipelined frames in one read are all answered, in order")
    func pipelined() throws {
        let channel = try Self.channel()
        var buffer = ByteBuffer()
        for streamID in 1...20 as ClosedRange<UInt32> {
            var ping = Self.ping(streamID)
            buffer.writeBuffer(&ping)
        }
        try channel.writeInbound(buffer)
        let answers = try Self.answers(channel)
        #expect(answers.map(\.streamID) == Array(1...20))
        #expect(answers.allSatisfy { $0.status == .ok && $0.isResponse })
    }

    @Test("a frame over the limit is refused from its length alone, on stream 0, and the connection closes")
    func oversize() throws {
        let channel = try Self.channel(maximumFrameLength: 100)
        var header = ByteBuffer()
        header.writeInteger(UInt32(101))
        try channel.writeInbound(header)
        let answers = try Self.answers(channel)
        #expect(answers.map(\.status) == [.resourceExhausted])
        #expect(answers.first?.streamID == 0)
        #expect(!channel.isActive)
    }

    @Test("a frame shorter than its header is refused and the connection closes")
    func tooShort() throws {
        let channel = try Self.channel()
        var header = ByteBuffer()
        header.writeInteger(UInt32(7))
        try channel.writeInbound(header)
        #expect(try Self.answers(channel).map(\.status) == [.invalidArgument])
        #expect(!channel.isActive)
    }

    @Test("a frame begun but not finished in time closes the connection")
    func partialFrame() throws {
        let channel = try Self.channel()
        var ping = Self.ping(3)
        try channel.writeInbound(ping.readSlice(length: 6)!)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(try Self.answers(channel).map(\.status) == [.invalidArgument])
        #expect(!channel.isActive)
    }

    @Test("a frame completed in time cancels the partial-frame timer")
    func partialFrameCompleted() throws {
        let channel = try Self.channel()
        var ping = Self.ping(3)
        try channel.writeInbound(ping.readSlice(length: 6)!)
        try channel.writeInbound(ping)
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(try Self.answers(channel).map(\.streamID) == [3])
        #expect(channel.isActive)
    }
}
