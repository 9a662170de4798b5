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
    static func channel(
        maximumFrameLength: Int = 1024,
        idleTimeout: TimeAmount? = nil,
        metrics: ServerMetrics = ServerMetrics(),
        before: [any ChannelHandler & Sendable] = []
    ) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(before)
        let rules = try LoadedRules(json: Fixture.document(), sequence: 1)
        let store = RuleStore()
        store.publish(ServingState(rules: rules, document: Fixture.document(), loadedAtMillis: 0))
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
                idleTimeout: idleTimeout,
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
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { frames += try Self.frames(buffer) }
        return frames
    }

    /// The whole frames in one write; bytes left over fail the test.
    static func frames(_ written: ByteBuffer) throws -> [Frame] {
        var buffer = written
        var frames: [Frame] = []
        while let frame = try FrameDecoder(maximumLength: 1 << 20).readFrame(from: &buffer) { frames.append(frame) }
        #expect(buffer.readableBytes == 0, "a write ends inside a frame")
        return frames
    }

    @Test("a connection is closed once nothing was read for the idle timeout, counting from the last read")
    func idleTimeout() throws {
        let metrics = ServerMetrics()
        let channel = try Self.channel(idleTimeout: .seconds(10), metrics: metrics)
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        try channel.writeInbound(Self.ping(1))
        #expect(try Self.answers(channel).map(\.streamID) == [1])
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive, "closed 9 s after a read, with a 10 s idle timeout")
        #expect(DecisionLogBoundsTests.metric(metrics, #"moat_refusals_total{reason="idle_timeout"}"#) == 0)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive, "still open 10 s after the last read")
        #expect(DecisionLogBoundsTests.metric(metrics, #"moat_refusals_total{reason="idle_timeout"}"#) == 1)
    }

    @Test("a client that takes no answers is closed after the idle timeout; one that takes them is not")
    func idleWhileHeldBack() throws {
        let channel = try Self.channel(idleTimeout: .seconds(10))
        channel.isWritable = false
        try channel.writeInbound(Self.ping(1))
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        // The client takes its answers: activity.
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(try Self.answers(channel).map(\.streamID) == [1])
        channel.isWritable = false
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive, "closed 9 s after the socket drained, with a 10 s idle timeout")
        try channel.writeInbound(Self.ping(2))
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(!channel.isActive, "still open 10 s after a read whose answer the client never took")
    }

    @Test("without an idle timeout a connection stays open")
    func noIdleTimeout() throws {
        let channel = try Self.channel()
        channel.embeddedEventLoop.advanceTime(by: .hours(24))
        #expect(channel.isActive)
    }

    @Test("frames arriving one byte at a time are answered")
    func byteAtATime() throws {
        let channel = try Self.channel()
        for byte in Self.ping(5).readableBytesView {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        #expect(try Self.answers(channel).map(\.streamID) == [5])
    }

    @Test("pipelined frames in one read are all answered, in order, in one write")
    func pipelined() throws {
        let channel = try Self.channel()
        try channel.writeInbound(Self.pings(1...20))
        let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "the answers of one read took several writes")
        let answers = try Self.frames(written)
        #expect(answers.map(\.streamID) == Array(1...20))
        #expect(answers.allSatisfy { $0.status == .ok && $0.isResponse })
    }

    @Test("a burst whose answers pass the write chunk is written in chunks, each ending with the answer that filled it")
    func answersWrittenInChunks() throws {
        let channel = try Self.channel()
        let count: UInt32 = 1000
        try channel.writeInbound(Self.pings(1...count))
        var writes: [[Frame]] = []
        while let written = try channel.readOutbound(as: ByteBuffer.self) {
            writes.append(try Self.frames(written))
        }
        #expect(writes.flatMap { $0 }.map(\.streamID) == Array(1...count))
        try #require(writes.count > 1, "\(count) answers fit in one chunk: send more")
        for chunk in writes.dropLast() {
            let bytes = chunk.map { Frame.headerSize + $0.payload.readableBytes }
            #expect(bytes.reduce(0, +) >= DataConnectionHandler.writeChunk)
            #expect(bytes.dropLast().reduce(0, +) < DataConnectionHandler.writeChunk)
        }
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

    static func pings(_ streamIDs: ClosedRange<UInt32>) -> ByteBuffer {
        var buffer = ByteBuffer()
        for streamID in streamIDs {
            var ping = Self.ping(streamID)
            buffer.writeBuffer(&ping)
        }
        return buffer
    }

    /// Makes the channel unwritable once `answers` answers have been written: a client that stops
    /// taking its answers, as NIO reports it when the unsent bytes pass the high water mark.
    final class StopsBeingWritable: ChannelOutboundHandler, Sendable {
        typealias OutboundIn = ByteBuffer
        let answers: Int
        private let written = ManagedAtomic(0)

        init(after answers: Int) {
            self.answers = answers
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            context.write(data, promise: promise)
            if written.wrappingIncrementThenLoad(ordering: .relaxed) == answers {
                (context.channel as! EmbeddedChannel).isWritable = false
            }
        }
    }

    static func becomeWritable(_ channel: EmbeddedChannel) {
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
    }

    @Test("M1: frames read while the channel is not writable wait unanswered, and are answered in order once it is")
    func backPressureHoldsAnswers() throws {
        let channel = try Self.channel()
        channel.isWritable = false
        try channel.writeInbound(Self.pings(1...20))
        #expect(try Self.answers(channel).isEmpty, "answered a client that takes no answers")
        Self.becomeWritable(channel)
        #expect(try Self.answers(channel).map(\.streamID) == Array(1...20))
        #expect(channel.isActive)
    }

    @Test("M1: a burst is answered only until the channel stops being writable; the rest when it drains")
    func backPressureWithinABurst() throws {
        let channel = try Self.channel(before: [StopsBeingWritable(after: 1)])
        try channel.writeInbound(Self.pings(1...1000))
        // The first write is the first chunk of answers (answersWrittenInChunks).
        let first = try Self.answers(channel).map(\.streamID)
        #expect(!first.isEmpty && first == Array(1...UInt32(first.count)) && first.count < 1000)
        Self.becomeWritable(channel)
        #expect(try Self.answers(channel).map(\.streamID) == Array(UInt32(first.count + 1)...1000))
    }

    @Test("M1: no read is asked for while the channel is not writable, and one is once it drains")
    func backPressureStopsReading() throws {
        final class ReadCounter: ChannelOutboundHandler, Sendable {
            typealias OutboundIn = ByteBuffer
            let reads = ManagedAtomic(0)
            func read(context: ChannelHandlerContext) {
                reads.wrappingIncrement(ordering: .relaxed)
                context.read()
            }
        }
        let counter = ReadCounter()
        let channel = try Self.channel(before: [counter])
        channel.isWritable = false
        let before = counter.reads.load(ordering: .relaxed)
        channel.read()
        #expect(counter.reads.load(ordering: .relaxed) == before)
        Self.becomeWritable(channel)
        #expect(counter.reads.load(ordering: .relaxed) == before + 1)
    }

    @Test("a partial frame held back by the daemon's own back-pressure is not timed out; it is once reading resumes")
    func partialFrameTimerWaitsForBackPressure() throws {
        let channel = try Self.channel(before: [StopsBeingWritable(after: 1)])
        var bytes = Self.pings(1...2)
        var partial = Self.ping(3)
        bytes.writeBuffer(&partial)
        bytes.moveWriterIndex(to: bytes.writerIndex - 4)
        try channel.writeInbound(bytes)
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(channel.isActive)
        // Both answers went out in one write, after which the channel stopped being writable.
        #expect(try Self.answers(channel).map(\.streamID) == [1, 2])
        Self.becomeWritable(channel)
        #expect(try Self.answers(channel).isEmpty)
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(try Self.answers(channel).map(\.status) == [.invalidArgument])
        #expect(!channel.isActive)
    }

    @Test(
        "L6: a connection whose peer credentials cannot be read is refused PERMISSION_DENIED, even when anyone is allowed"
    )
    func peerWithoutCredentialsRefused() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(unixDomainSocketPath: "/tmp/x")).wait()
        let metrics = ServerMetrics()
        let store = RuleStore()
        let context = DataContext(
            store: store,
            tokenCaches: [
                ObjectIdentifier(channel.embeddedEventLoop): TokenCache(
                    eventLoop: channel.embeddedEventLoop,
                    maximumBytes: 1 << 20,
                    metrics: metrics
                )
            ],
            metrics: metrics,
            decisionLog: nil,
            draining: ManagedAtomic(false)
        )
        var configuration = ServerConfiguration()
        configuration.data.peers = .anyone
        try context.initialize(channel, connections: ConnectionCounts(), configuration: configuration).wait()
        channel.embeddedEventLoop.run()
        let answers = try Self.answers(channel)
        #expect(answers.map(\.status) == [.permissionDenied] && answers.first?.streamID == 0, "\(answers)")
        #expect(!channel.isActive)
        #expect(metrics.text().contains("reason=\"peer_credentials_unreadable\"} 1"), "\(metrics.text())")
    }

    @Test("connections are counted per uid up to the limit, and uncounted when they close")
    func connectionCountsPerUID() {
        let counts = ConnectionCounts()
        #expect(counts.open(uid: 7, limit: 2) && counts.open(uid: 7, limit: 2))
        #expect(!counts.open(uid: 7, limit: 2))
        #expect(counts.open(uid: 8, limit: 2))
        counts.close(uid: 7)
        #expect(counts.open(uid: 7, limit: 2))
        #expect(!counts.open(uid: 7, limit: 2))
    }
}
