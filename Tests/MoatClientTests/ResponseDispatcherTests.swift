import MoatWire
import NIOCore
import NIOEmbedded
import Testing

@testable import MoatClient

/// The client's dispatcher on an `EmbeddedChannel`: requests are outbound writes that become frames
/// with fresh stream ids; answers complete the call with the same id, whatever their order.
@Suite("Client dispatcher")
struct ResponseDispatcherTests {
    struct Harness {
        let channel = EmbeddedChannel()
        let dispatcher: ResponseDispatcher

        init() throws {
            dispatcher = ResponseDispatcher(refusal: RefusalBox())
            try channel.pipeline.syncOperations.addHandler(dispatcher)
        }

        /// Sends a Ping request; its frame as written, and the call's answer.
        func send(deadline: NIODeadline? = nil) throws -> (sent: Frame, answer: EventLoopFuture<Frame>) {
            let promise = channel.eventLoop.makePromise(of: Frame.self)
            try channel.writeOutbound(
                Outgoing(method: .ping, payload: ByteBuffer(), deadline: deadline, promise: promise)
            )
            var written = try #require(try channel.readOutbound(as: ByteBuffer.self))
            let frame = try #require(try FrameDecoder(maximumLength: 1024).readFrame(from: &written))
            return (frame, promise.futureResult)
        }

        /// Answers `request` with `payload` (a marker the test recognises).
        func answer(_ request: Frame, _ payload: String) throws {
            try channel.writeInbound(
                Frame(respondingTo: request, status: .ok, payload: ByteBuffer(string: payload))
            )
        }
    }

    static func value(_ future: EventLoopFuture<Frame>) throws -> String? {
        var result: Result<Frame, any Error>?
        future.assumeIsolated().whenComplete { result = $0 }
        return try result.map { String(buffer: try $0.get().payload) }
    }

    @Test("answers arriving out of order complete the call with the same stream id")
    func outOfOrder() throws {
        let harness = try Harness()
        let calls = try (0..<3).map { _ in try harness.send() }
        #expect(calls.map(\.sent.streamID) == [1, 2, 3])
        for index in [2, 0, 1] { try harness.answer(calls[index].sent, "answer \(index)") }
        #expect(try calls.map { try Self.value($0.answer) } == ["answer 0", "answer 1", "answer 2"])
        #expect(harness.dispatcher.waitingCount == 0)
    }

    @Test("a call past its deadline fails DEADLINE_EXCEEDED; its late answer is dropped; the connection goes on")
    func lateAnswer() throws {
        let harness = try Harness()
        let late = try harness.send(deadline: .uptimeNanoseconds(1_000_000))
        harness.channel.embeddedEventLoop.advanceTime(to: .uptimeNanoseconds(2_000_000))
        let error = #expect(throws: MoatClientError.self) { try late.answer.wait() }
        #expect(error?.code == .deadlineExceeded && error?.fault == .availability)
        #expect(harness.dispatcher.waitingCount == 0)

        try harness.answer(late.sent, "too late")
        #expect(try harness.channel.readInbound(as: Frame.self) == nil)
        let next = try harness.send(deadline: .uptimeNanoseconds(10_000_000))
        try harness.answer(next.sent, "in time")
        #expect(try Self.value(next.answer) == "in time")
        // The answered call's timer is cancelled: nothing fails it later.
        harness.channel.embeddedEventLoop.advanceTime(to: .uptimeNanoseconds(20_000_000))
        #expect(try Self.value(next.answer) == "in time")
    }

    @Test("stream ids wrap from UInt32.max to 1, never 0, and skip an id still waiting for its answer")
    func wrapAround() throws {
        let harness = try Harness()
        harness.dispatcher.nextStreamID = UInt32.max - 1
        let calls = try (0..<3).map { _ in try harness.send() }
        #expect(calls.map(\.sent.streamID) == [UInt32.max - 1, UInt32.max, 1])
        for call in calls[0..<2] { try harness.answer(call.sent, "done") }

        // A lap later, stream 1 still waits: the next ids go past it.
        harness.dispatcher.nextStreamID = UInt32.max
        let next = try (0..<2).map { _ in try harness.send() }
        #expect(next.map(\.sent.streamID) == [UInt32.max, 2])
        try harness.answer(calls[2].sent, "first")
        try harness.answer(next[1].sent, "second")
        #expect(try Self.value(calls[2].answer) == "first")
        #expect(try Self.value(next[1].answer) == "second")
    }

    @Test("a connection-level refusal fails every waiting call and keeps the daemon's status as the cause")
    func refusal() throws {
        let harness = try Harness()
        let call = try harness.send()
        var payload = ByteBuffer()
        try StatusError(code: .permissionDenied, message: "peer not allowed").encode(into: &payload)
        try harness.channel.writeInbound(
            Frame(streamID: 0, method: .ping, flags: .response, status: .permissionDenied, payload: payload)
        )
        let error = #expect(throws: MoatClientError.self) { try call.answer.wait() }
        #expect(error?.status == .permissionDenied && error?.fault == .daemon)
        #expect((error?.underlyingError as? StatusError)?.message == "peer not allowed")
    }
}
