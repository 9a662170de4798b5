import Histogram
import MoatCore
import MoatWire
import NIOCore

/// One benchmark connection: keeps `depth` requests in flight until `end`, recording the latency
/// of every answer after `measureFrom`.
final class BenchConnection: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer

    struct Counts {
        var answers = 0
        var allow = 0
        var deny = 0
        var errors = 0

        mutating func add(_ other: Counts) {
            answers += other.answers
            allow += other.allow
            deny += other.deny
            errors += other.errors
        }
    }

    struct Result: Sendable {
        var histogram: Histogram<UInt64>
        var counts: Counts
    }

    private let method: MethodID
    private let payloads: [ByteBuffer]
    private var next: Int
    private let depth: Int
    private let measureFrom: NIODeadline
    private let end: NIODeadline
    private var sentAt: [UInt32: NIODeadline] = [:]
    private var streamID: UInt32 = 0
    private var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    private var counts = Counts()
    private var promise: EventLoopPromise<Result>?
    private var pendingFinished: EventLoopFuture<Result>?

    init(method: MethodID, payloads: [ByteBuffer], offset: Int, depth: Int, measureFrom: NIODeadline, end: NIODeadline)
    {
        self.method = method
        self.payloads = payloads
        self.next = offset % payloads.count
        self.depth = depth
        self.measureFrom = measureFrom
        self.end = end
    }

    /// Completes when the connection has stopped sending and its answers are in.
    var finished: EventLoopFuture<Result> { pendingFinished! }

    func handlerAdded(context: ChannelHandlerContext) {
        let promise = context.eventLoop.makePromise(of: Result.self)
        self.promise = promise
        pendingFinished = promise.futureResult
    }

    func channelActive(context: ChannelHandlerContext) {
        for _ in 0..<depth { send(context: context) }
        context.flush()
    }

    private func send(context: ChannelHandlerContext) {
        streamID &+= 1
        var payload = payloads[next]
        next = (next + 1) % payloads.count
        var out = context.channel.allocator.buffer(capacity: Frame.headerSize + payload.readableBytes)
        out.writeFrame(streamID: streamID, method: method) { $0.writeBuffer(&payload) }
        sentAt[streamID] = .now()
        context.write(wrapOutboundOut(out), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let now = NIODeadline.now()
        if let sent = sentAt.removeValue(forKey: frame.streamID), sent >= measureFrom, now <= end {
            _ = histogram.record(UInt64(max(0, (now - sent).nanoseconds)))
            counts.answers += 1
            if frame.status != .ok {
                counts.errors += 1
            } else if frame.method == .check, let decision = try? Decision(wirePayload: frame.payload) {
                if decision.outcome == .allow { counts.allow += 1 } else { counts.deny += 1 }
            }
        }
        if now < end {
            send(context: context)
        } else if sentAt.isEmpty {
            promise?.succeed(Result(histogram: histogram, counts: counts))
            promise = nil
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise?.succeed(Result(histogram: histogram, counts: counts))
        promise = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise?.fail(error)
        promise = nil
        context.close(promise: nil)
    }
}
