import MoatWire
import NIOCore
import NIOHPACK
import NIOHTTP2

/// The Envoy service on one HTTP/2 connection (docs/envoy.md, "Serving"): each stream is a gRPC
/// unary call to `Check`, read, decided and answered on the connection's event loop, from the frames
/// `NIOHTTP2Handler` passes down the connection's own pipeline. There is no channel per stream (no
/// stream multiplexer): a call is an entry in `streams`, from its HEADERS to the stream's closing.
///
/// The request: HEADERS (`:method POST`, `:path`, `content-type application/grpc[+proto]`,
/// optionally `grpc-timeout`, `grpc-encoding identity`), then one length-prefixed message in DATA
/// frames, then the end of the stream. The answer: HEADERS (`:status 200`, `content-type`), DATA
/// and the trailers (`grpc-status 0`) in one flush; or, when there is no answer to give, the gRPC
/// status alone in one HEADERS frame ("Trailers-Only").
///
/// Flow control, which the multiplexer's stream channels would do: when `NIOHTTP2Handler` reports
/// that an inbound window (the connection's, or an open stream's) fell to half its target or below,
/// the handler sends the WINDOW_UPDATE that raises it back to the target. Messages are consumed as
/// they are read, so nothing is buffered against a window.
final class EnvoyConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    static let checkPath = "/envoy.service.auth.v3.Authorization/Check"

    /// One call, from its HEADERS until its stream closes.
    private struct Call {
        enum State {
            /// The request's headers were read at `arrival`; its message is being read.
            case reading(timeoutMicros: UInt64, arrival: NIODeadline)
            /// The answer is written: what else arrives on the stream is dropped.
            case answered
        }

        var state: State
        var message = GRPCRequestMessage(
            limit: EnvoyConfiguration.maximumRequestBytes,
            readLimit: EnvoyConfiguration.transportPayloadLimit
        )
        /// Answers DEADLINE_EXCEEDED when the message is still incomplete at the request's
        /// deadline; scheduled only when a read ends with the message incomplete.
        var deadline: Scheduled<Void>?
    }

    private let service: EnvoyAuthorizationService
    /// Decides the connection's checks: the loop's token cache, one sampling state, as a data
    /// socket connection's processor.
    private var processor: DataRequestProcessor
    /// The inbound windows kept open: the connection's, and each stream's.
    private let connectionWindow: Int
    private let streamWindow: Int
    /// The calls whose streams are open.
    private var calls: [HTTP2StreamID: Call] = [:]
    /// Calls whose message the current read left incomplete: their deadline is set when it completes.
    private var incomplete: [HTTP2StreamID] = []

    init(service: EnvoyAuthorizationService, eventLoop: any EventLoop, connectionWindow: Int, streamWindow: Int) {
        self.service = service
        self.processor = service.processor(on: eventLoop)
        self.connectionWindow = connectionWindow
        self.streamWindow = streamWindow
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let id = frame.streamID
        switch frame.payload {
        case .headers(let headers):
            if calls[id] == nil {
                if let refusal = Self.refusal(of: headers.headers) {
                    answer(context, id, refusal)
                    return
                }
                calls[id] = Call(
                    state: .reading(
                        timeoutMicros: EnvoyAuthorizationService.timeoutMicros(
                            headers.headers.first(name: "grpc-timeout")
                        ),
                        arrival: .now()
                    )
                )
            }  // else a client's trailers: gRPC clients send none, and they carry nothing Moat reads
            if headers.endStream { endOfRequest(context, id) }
        case .data(let data):
            guard case .reading = calls[id]?.state else { return }
            do throws(GRPCCallError) {
                switch data.data {
                case .byteBuffer(var bytes): try calls[id]!.message.append(&bytes)
                case .fileRegion: throw GRPCCallError(.internalError, "a request body must be bytes")
                }
            } catch {
                answer(context, id, .status(error))
                return
            }
            if data.endStream {
                endOfRequest(context, id)
            } else if calls[id]!.deadline == nil {
                incomplete.append(id)
            }
        default:
            break  // connection-level frames and RST_STREAM: NIOHTTP2Handler acts on them
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Only a request whose message spans more than one read waits for it, and only then is
        // there a deadline to watch: Envoy sends a check's headers and message in one write.
        for id in incomplete {
            guard case .reading(let timeout, let arrival) = calls[id]?.state, timeout > 0,
                calls[id]!.deadline == nil
            else { continue }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            calls[id]!.deadline = context.eventLoop.scheduleTask(
                deadline: arrival + .microseconds(Int64(clamping: timeout))
            ) {
                let (handler, context) = loopBound.value
                guard case .reading = handler.calls[id]?.state else { return }
                handler.service.context.metrics.countUndecided(.deadlineExceeded)
                handler.answer(
                    context,
                    id,
                    .status(
                        GRPCCallError(
                            .deadlineExceeded,
                            "the request's deadline of \(timeout) µs passed before its message was read"
                        )
                    )
                )
            }
        }
        incomplete.removeAll(keepingCapacity: true)
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let closed as StreamClosedEvent:
            // Answered and ended by both sides, or reset: the call is over.
            calls.removeValue(forKey: closed.streamID)?.deadline?.cancel()
        case let window as NIOHTTP2WindowUpdatedEvent:
            let isConnection = window.streamID == .rootStream
            if let size = window.inboundWindowSize, isConnection || calls[window.streamID] != nil,
                let increment = Self.windowIncrement(size, target: isConnection ? connectionWindow : streamWindow)
            {
                context.writeAndFlush(
                    wrapOutboundOut(
                        HTTP2Frame(streamID: window.streamID, payload: .windowUpdate(windowSizeIncrement: increment))
                    ),
                    promise: nil
                )
            }
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        for call in calls.values { call.deadline?.cancel() }
        calls.removeAll()
        context.fireChannelInactive()
    }

    /// What raises an inbound window of `size` bytes back to `target`: nothing while it is over
    /// half the target (swift-nio-http2's own rule for its stream channels).
    static func windowIncrement(_ size: Int, target: Int) -> Int? {
        guard size < target else { return nil }
        guard size >= 0 else { return min(target - size, Int(Int32.max)) }
        let increment = target - size
        return increment >= size ? increment : nil
    }

    /// The client ended its side of stream `id`: the request is complete.
    private func endOfRequest(_ context: ChannelHandlerContext, _ id: HTTP2StreamID) {
        guard case .reading(let timeout, let arrival) = calls[id]?.state else { return }
        let input: EnvoyCheckInput
        do throws(GRPCCallError) {
            input = try EnvoyCheckInput(calls[id]!.message.finish())
        } catch {
            answer(context, id, .status(error))
            return
        }
        switch service.answer(input, timeoutMicros: timeout, arrival: arrival, processor: &processor) {
        case .success(let response): answer(context, id, .message(response))
        case .failure(let error): answer(context, id, .status(GRPCCallError(couldNotDecide: error)))
        }
    }

    /// What is wrong with a request's headers that no message can fix, or nil.
    static func refusal(of headers: HPACKHeaders) -> Answer? {
        guard let contentType = headers.first(name: "content-type"), isGRPCProto(contentType) else {
            return .httpStatus(415)
        }
        guard headers.first(name: ":method") == "POST" else {
            return .status(GRPCCallError(.invalidArgument, ":method must be POST"))
        }
        let path = headers.first(name: ":path") ?? ""
        guard path == checkPath else {
            return .status(
                GRPCCallError(.unimplemented, "Method '\(path)' is not implemented: Moat serves only \(checkPath)")
            )
        }
        let encoding = headers.first(name: "grpc-encoding") ?? "identity"
        guard encoding == "identity" else {
            return .status(
                GRPCCallError(.unimplemented, "\(encoding) compression is not supported", acceptsIdentityOnly: true)
            )
        }
        return nil
    }

    /// `application/grpc`, `application/grpc+proto`, either with parameters (`;…`).
    private static func isGRPCProto(_ contentType: String) -> Bool {
        let type = contentType.prefix { $0 != ";" }.lowercased()
        return type == "application/grpc" || type == "application/grpc+proto"
    }

    /// What a stream is answered with.
    enum Answer {
        /// The call's response message, with status OK.
        case message(EnvoyCheckResponse)
        /// A gRPC status without a message (Trailers-Only).
        case status(GRPCCallError)
        /// An HTTP status alone: the request is not gRPC.
        case httpStatus(Int)
    }

    /// The HEADERS that open a response message, and the trailers that end it with status OK:
    /// the same for every call.
    private static let responseHead = HTTP2Frame.FramePayload.headers(
        .init(headers: [":status": "200", "content-type": "application/grpc"])
    )
    private static let okTrailers = HTTP2Frame.FramePayload.headers(
        .init(headers: ["grpc-status": "0"], endStream: true)
    )

    /// Writes on stream `id` the frames that carry `answer`, the last one ending the stream, and
    /// flushes them; the call's message is dropped, and what else arrives on the stream with it.
    private func answer(_ context: ChannelHandlerContext, _ id: HTTP2StreamID, _ answer: Answer) {
        calls[id]?.deadline?.cancel()
        calls[id] = Call(state: .answered)
        switch answer {
        case .message(let response):
            var framed = context.channel.allocator.buffer(capacity: 512)
            framed.writeInteger(UInt8(0))
            let lengthIndex = framed.writerIndex
            framed.writeInteger(UInt32(0))
            response.encode(into: &framed)
            framed.setInteger(UInt32(framed.writerIndex - lengthIndex - 4), at: lengthIndex)
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: Self.responseHead)), promise: nil)
            context.write(
                wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(framed))))),
                promise: nil
            )
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: Self.okTrailers)), promise: nil)
        case .status(let error):
            var headers: HPACKHeaders = [
                ":status": "200", "content-type": "application/grpc", "grpc-status": "\(error.code.rawValue)",
                "grpc-message": GRPCCallError.percentEncoded(error.message),
            ]
            if error.acceptsIdentityOnly { headers.add(name: "grpc-accept-encoding", value: "identity") }
            context.write(
                wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers, endStream: true)))),
                promise: nil
            )
        case .httpStatus(let status):
            context.write(
                wrapOutboundOut(
                    HTTP2Frame(
                        streamID: id,
                        payload: .headers(.init(headers: [":status": "\(status)"], endStream: true))
                    )
                ),
                promise: nil
            )
        }
        context.flush()
    }
}

/// A gRPC status other than OK, and its message: the call failed (docs/envoy.md, "Answers").
struct GRPCCallError: Error, Equatable {
    /// The gRPC status codes this service answers with.
    enum Code: Int {
        case invalidArgument = 3
        case deadlineExceeded = 4
        case resourceExhausted = 8
        case unimplemented = 12
        case internalError = 13
        case unavailable = 14
    }

    let code: Code
    let message: String
    /// Send `grpc-accept-encoding: identity` (the client compressed its message).
    var acceptsIdentityOnly = false

    init(_ code: Code, _ message: String, acceptsIdentityOnly: Bool = false) {
        self.code = code
        self.message = message
        self.acceptsIdentityOnly = acceptsIdentityOnly
    }

    /// "Could not decide": UNAVAILABLE, or DEADLINE_EXCEEDED for a passed deadline.
    init(couldNotDecide error: StatusError) {
        self.init(error.code == .deadlineExceeded ? .deadlineExceeded : .unavailable, error.message)
    }

    /// `grpc-message`'s encoding (gRPC over HTTP/2): the bytes of the UTF-8 text outside
    /// printable ASCII, and `%`, as `%XX`.
    static func percentEncoded(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if byte >= 0x20, byte <= 0x7e, byte != UInt8(ascii: "%") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                out += byte < 0x10 ? "%0\(hex)" : "%\(hex)"
            }
        }
        return out
    }
}

/// The one length-prefixed message of a unary gRPC request (gRPC over HTTP/2: a compressed flag
/// byte, a 4-byte big-endian length, the message), reassembled from DATA frames. A message over
/// `limit` bytes is skipped, not kept: it is answered 400 (docs/envoy.md, "Request faults"); one
/// over `readLimit` is refused as soon as its length is read.
struct GRPCRequestMessage {
    /// The message, or the length of one over the limit.
    enum Content: Equatable {
        case message(ByteBuffer)
        case oversized(Int)
    }

    let limit: Int
    let readLimit: Int
    /// The prefix being read when it is split across DATA frames, up to 5 bytes.
    private var prefix = ByteBuffer()
    /// The length of the message being read, once its prefix is read.
    private var expected: Int?
    /// What has arrived of the message being read (nothing when it is over the limit).
    private var body = ByteBuffer()
    private var received = 0
    private var content: Content?

    init(limit: Int, readLimit: Int) {
        self.limit = limit
        self.readLimit = readLimit
    }

    /// Consumes `data`; throws when the stream is not one uncompressed message.
    mutating func append(_ data: inout ByteBuffer) throws(GRPCCallError) {
        while data.readableBytes > 0 {
            guard let length = expected else {
                guard content == nil else {
                    throw GRPCCallError(.invalidArgument, "Check is a unary method: one request message")
                }
                if prefix.readableBytes == 0, data.readableBytes >= 5 {
                    // The whole prefix in this frame (always, from Envoy): read it in place.
                    try startMessage(
                        compressed: data.readInteger(as: UInt8.self)!,
                        length: Int(data.readInteger(as: UInt32.self)!)
                    )
                } else {
                    var head = data.readSlice(length: min(5 - prefix.readableBytes, data.readableBytes))!
                    prefix.writeBuffer(&head)
                    if prefix.readableBytes == 5 {
                        let compressed = prefix.readInteger(as: UInt8.self)!
                        let length = Int(prefix.readInteger(as: UInt32.self)!)
                        prefix.clear()
                        try startMessage(compressed: compressed, length: length)
                    }
                }
                continue
            }
            let count = min(length - received, data.readableBytes)
            if length > limit {
                data.moveReaderIndex(forwardBy: count)
            } else if body.readableBytes == 0, count == length {
                body = data.readSlice(length: count)!  // the whole message in one frame: no copy
            } else {
                var part = data.readSlice(length: count)!
                body.writeBuffer(&part)
            }
            received += count
            if received == length { endMessage(length) }
        }
    }

    private mutating func startMessage(compressed: UInt8, length: Int) throws(GRPCCallError) {
        guard compressed == 0 else {
            throw GRPCCallError(.internalError, "the request message is compressed without a grpc-encoding")
        }
        guard length <= readLimit else {
            throw GRPCCallError(.resourceExhausted, "the request message is \(length) bytes, over \(readLimit)")
        }
        expected = length
        received = 0
        body.clear()
        if length == 0 { endMessage(0) }
    }

    private mutating func endMessage(_ length: Int) {
        content = length > limit ? .oversized(length) : .message(body)
        expected = nil
        body = ByteBuffer()
    }

    /// The message, once the client ended the stream; throws when there is not exactly one whole
    /// message.
    func finish() throws(GRPCCallError) -> Content {
        guard expected == nil, prefix.readableBytes == 0 else {
            throw GRPCCallError(.invalidArgument, "the request ended inside its message")
        }
        guard let content else {
            throw GRPCCallError(.invalidArgument, "Check is a unary method: no request message")
        }
        return content
    }
}
