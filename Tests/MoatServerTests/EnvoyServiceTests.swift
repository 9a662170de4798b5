import Atomics
import MoatCore
import MoatIdentity
import MoatKeyVaultHTTP
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing

@testable import MoatServer

@Suite("Envoy service")
struct EnvoyServiceTests {
    @Test(
        "the grpc-timeout Envoy sends becomes the check's deadline; an unreadable one is no deadline",
        arguments: [
            ("250m", UInt64(250_000)), ("2S", 2_000_000), ("1M", 60_000_000), ("1H", 3_600_000_000), ("750u", 750),
            ("1500n", 1), ("100000000m", 0), ("", 0), ("m", 0), ("12x", 0), ("-5m", 0),
        ]
    )
    func grpcTimeout(header: String, micros: UInt64) {
        #expect(EnvoyAuthorizationService.timeoutMicros(header.isEmpty ? nil : header) == micros)
    }

    @Test("--envoy-listen takes a loopback HOST:PORT; any other address only with --envoy-listen-any")
    func listenAddress() throws {
        let v4 = try EnvoyConfiguration.TCPAddress(parsing: "127.0.0.1:9191", allowAny: false)
        #expect(v4.host == "127.0.0.1" && v4.port == 9191 && v4.description == "127.0.0.1:9191")
        let v6 = try EnvoyConfiguration.TCPAddress(parsing: "[::1]:9191", allowAny: false)
        #expect(v6.host == "::1" && v6.description == "[::1]:9191")
        #expect(
            try EnvoyConfiguration.TCPAddress(parsing: "0.0.0.0:9191", allowAny: true).host == "0.0.0.0"
        )
        for (text, named) in [
            ("0.0.0.0:9191", "--envoy-listen-any"), ("192.0.2.1:80", "--envoy-listen-any"),
            ("localhost:80", "not an IP address"), ("127.0.0.1", "HOST:PORT"), ("127.0.0.1:0", "port"),
            ("127.0.0.1:70000", "port"), ("[::1]9191", ":PORT"),
        ] {
            do {
                _ = try EnvoyConfiguration.TCPAddress(parsing: text, allowAny: false)
                Issue.record("'\(text)' was accepted")
            } catch {
                #expect(error.description.contains(named), "\(text): \(error)")
            }
        }
    }

    @Test("a decision id is 128 random bits in hex")
    func decisionId() {
        let ids = (0..<100).map { _ in EnvoyAnswer.newDecisionId() }
        #expect(Set(ids).count == 100)
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) && $0 == $0.lowercased() })
    }

    // MARK: - One connection, on its event loop

    /// A connection channel with an `EnvoyConnectionHandler` deciding on the fixture's rules.
    static func connection(metrics: ServerMetrics = ServerMetrics()) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let store = RuleStore()
        store.publish(
            ServingState(
                rules: try LoadedRules(json: Fixture.document(), sequence: 1),
                document: Fixture.document(),
                loadedAtMillis: 0
            )
        )
        let loop = channel.embeddedEventLoop
        let context = DataContext(
            store: store,
            tokenCaches: [ObjectIdentifier(loop): TokenCache(eventLoop: loop, maximumBytes: 1 << 20, metrics: metrics)],
            metrics: metrics,
            decisionLog: nil,
            draining: ManagedAtomic(false)
        )
        let service = EnvoyAuthorizationService(
            context: context,
            mapping: HTTPCheckMapping(trustedProxies: []),
            answersErrorResponse: false
        )
        try channel.pipeline.syncOperations.addHandler(
            EnvoyConnectionHandler(service: service, eventLoop: loop, connectionWindow: 8 << 20, streamWindow: 1 << 20)
        )
        return channel
    }

    static func requestHeaders(
        path: String = EnvoyConnectionHandler.checkPath,
        extra: [(String, String)] = [],
        stream: HTTP2StreamID = 1
    ) -> HTTP2Frame {
        var headers: HPACKHeaders = [
            ":method": "POST", ":scheme": "http", ":path": path, ":authority": "moat",
            "content-type": "application/grpc", "te": "trailers",
        ]
        for (name, value) in extra { headers.add(name: name, value: value) }
        return HTTP2Frame(streamID: stream, payload: .headers(.init(headers: headers)))
    }

    /// A length-prefixed message (gRPC over HTTP/2) holding `message`.
    static func prefixed(_ message: [UInt8], compressed: Bool = false) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(compressed ? 1 : 0))
        buffer.writeInteger(UInt32(message.count))
        buffer.writeBytes(message)
        return buffer
    }

    static func data(_ buffer: ByteBuffer, endStream: Bool, stream: HTTP2StreamID = 1) -> HTTP2Frame {
        HTTP2Frame(streamID: stream, payload: .data(.init(data: .byteBuffer(buffer), endStream: endStream)))
    }

    /// The frames written and flushed so far, on every stream.
    static func writtenFrames(_ channel: EmbeddedChannel) throws -> [HTTP2Frame] {
        var frames: [HTTP2Frame] = []
        while let frame = try channel.readOutbound(as: HTTP2Frame.self) { frames.append(frame) }
        return frames
    }

    /// The frames written and flushed so far, all of them on stream 1.
    static func written(_ channel: EmbeddedChannel) throws -> [HTTP2Frame.FramePayload] {
        let frames = try writtenFrames(channel)
        #expect(frames.allSatisfy { $0.streamID == 1 }, "\(frames)")
        return frames.map(\.payload)
    }

    static func headers(_ frame: HTTP2Frame.FramePayload?) -> (HPACKHeaders, endStream: Bool)? {
        guard case .headers(let headers) = frame else { return nil }
        return (headers.headers, headers.endStream)
    }

    @Test(
        "a check is decided while its request is read, on that event loop, and answered HEADERS, DATA and trailers in one flush"
    )
    func decidedOnTheReadingLoop() throws {
        let metrics = ServerMetrics()
        let channel = try Self.connection(metrics: metrics)
        try channel.writeInbound(Self.requestHeaders(extra: [("grpc-timeout", "500m")]))
        #expect(try Self.written(channel).isEmpty)
        // An empty CheckRequest: no host, so a 400 denied_response, decided and logged like any other.
        try channel.writeInbound(Self.data(Self.prefixed([]), endStream: true))
        // The embedded loop never ran: nothing was handed to another thread or task.
        let frames = try Self.written(channel)
        #expect(frames.count == 3, "\(frames)")
        let head = Self.headers(frames.first)
        #expect(head?.0.first(name: ":status") == "200" && head?.0.first(name: "content-type") == "application/grpc")
        #expect(head?.endStream == false)
        guard frames.count == 3, case .data(let data) = frames[1], case .byteBuffer(var body) = data.data else {
            Issue.record("no DATA frame: \(frames)")
            return
        }
        #expect(
            body.readInteger(as: UInt8.self) == 0 && Int(body.readInteger(as: UInt32.self) ?? 0) == body.readableBytes
        )
        #expect(body.readableBytes > 0 && !data.endStream)
        let trailers = Self.headers(frames[2])
        #expect(trailers?.0.first(name: "grpc-status") == "0" && trailers?.endStream == true)
        #expect(metrics.text().contains("moat_checks_total{decision=\"deny\",inner_code=\"\"} 1"), "\(metrics.text())")
        _ = try channel.finish()
    }

    @Test("a message split across DATA frames, its prefix too, is put back together")
    func messageAcrossFrames() throws {
        var reader = GRPCRequestMessage(limit: 100, readLimit: 1000)
        let whole = Self.prefixed(Array(repeating: 7, count: 40))
        for start in stride(from: 0, to: whole.readableBytes, by: 3) {
            var part = whole.getSlice(at: start, length: min(3, whole.readableBytes - start))!
            try reader.append(&part)
            #expect(part.readableBytes == 0)
        }
        #expect(try reader.finish() == .message(ByteBuffer(bytes: Array(repeating: 7, count: 40))))

        var empty = GRPCRequestMessage(limit: 100, readLimit: 1000)
        var zero = Self.prefixed([])
        try empty.append(&zero)
        #expect(try empty.finish() == .message(ByteBuffer()))
    }

    @Test("a message cut into two DATA frames at any byte, inside its prefix or after it, is read back whole")
    func everySplit() throws {
        let bytes = (0..<40).map { UInt8($0) }
        let whole = Self.prefixed(bytes)
        let compressed = Self.prefixed(bytes, compressed: true)
        for cut in 0...whole.readableBytes {
            var reader = GRPCRequestMessage(limit: 100, readLimit: 1000)
            var first = whole.getSlice(at: 0, length: cut)!
            var second = whole.getSlice(at: cut, length: whole.readableBytes - cut)!
            try reader.append(&first)
            try reader.append(&second)
            #expect(try reader.finish() == .message(ByteBuffer(bytes: bytes)), "cut at \(cut)")
            // The compressed flag is refused whether the prefix arrived whole or in parts.
            var refused = GRPCRequestMessage(limit: 100, readLimit: 1000)
            var head = compressed.getSlice(at: 0, length: cut)!
            var rest = compressed.getSlice(at: cut, length: compressed.readableBytes - cut)!
            #expect(throws: GRPCCallError.self, "cut at \(cut)") {
                try refused.append(&head)
                try refused.append(&rest)
            }
        }
    }

    @Test("two calls on one connection, their frames interleaved, are each answered on their own stream")
    func twoCallsOnOneConnection() throws {
        let metrics = ServerMetrics()
        let channel = try Self.connection(metrics: metrics)
        try channel.writeInbound(Self.requestHeaders(stream: 1))
        try channel.writeInbound(Self.requestHeaders(stream: 3))
        try channel.writeInbound(Self.data(Self.prefixed([]), endStream: true, stream: 3))
        let second = try Self.writtenFrames(channel)
        #expect(second.count == 3 && second.allSatisfy { $0.streamID == 3 }, "\(second)")
        try channel.writeInbound(Self.data(Self.prefixed([]), endStream: true, stream: 1))
        let first = try Self.writtenFrames(channel)
        #expect(first.count == 3 && first.allSatisfy { $0.streamID == 1 }, "\(first)")
        for frames in [first, second] {
            #expect(Self.headers(frames.last?.payload)?.0.first(name: "grpc-status") == "0")
        }
        #expect(metrics.text().contains("moat_checks_total{decision=\"deny\",inner_code=\"\"} 2"), "\(metrics.text())")
        _ = try channel.finish()
    }

    /// A connection with one call on stream 1 whose message stopped after its first byte, with a
    /// 100 ms grpc-timeout: the read completed, so its deadline is set.
    static func stalledCall(metrics: ServerMetrics) throws -> EmbeddedChannel {
        let channel = try Self.connection(metrics: metrics)
        try channel.writeInbound(Self.requestHeaders(extra: [("grpc-timeout", "100m")]))
        try channel.writeInbound(Self.data(Self.prefixed([1, 2, 3]).getSlice(at: 0, length: 6)!, endStream: false))
        channel.pipeline.fireChannelReadComplete()
        return channel
    }

    @Test("a stream reset in the middle of its message is dropped: no answer, and its deadline never fires")
    func resetMidCall() throws {
        let metrics = ServerMetrics()
        let channel = try Self.stalledCall(metrics: metrics)
        // RST_STREAM: NIOHTTP2Handler closes the stream and says so.
        channel.pipeline.fireUserInboundEventTriggered(StreamClosedEvent(streamID: 1, reason: .cancel))
        channel.embeddedEventLoop.advanceTime(to: .now() + .seconds(1))
        #expect(try Self.written(channel).isEmpty)
        #expect(metrics.text().contains("moat_checks_undecided_total{status=\"DEADLINE_EXCEEDED\"} 0"))
        // The stream is forgotten: its message's rest is not read as a call's.
        try channel.writeInbound(Self.data(Self.prefixed([1, 2, 3]).getSlice(at: 6, length: 2)!, endStream: true))
        #expect(try Self.written(channel).isEmpty)
        _ = try channel.finish()
    }

    @Test(
        "an inbound window at half its target or below is raised back to the target: the connection's, and an open stream's"
    )
    func windowsKeptOpen() throws {
        let channel = try Self.connection()
        func update(_ stream: HTTP2StreamID, _ size: Int) throws -> Int? {
            channel.pipeline.fireUserInboundEventTriggered(
                NIOHTTP2WindowUpdatedEvent(streamID: stream, inboundWindowSize: size, outboundWindowSize: nil)
            )
            let frames = try Self.writtenFrames(channel)
            guard let frame = frames.first else { return nil }
            #expect(frames.count == 1 && frame.streamID == stream, "\(frames)")
            guard case .windowUpdate(let increment) = frame.payload else {
                Issue.record("not a WINDOW_UPDATE: \(frame)")
                return nil
            }
            return increment
        }
        // The connection's first window is HTTP/2's 65 535 bytes: raised to 8 MiB at once.
        #expect(try update(.rootStream, 65_535) == (8 << 20) - 65_535)
        #expect(try update(.rootStream, (8 << 20) / 2 + 1) == nil)
        #expect(try update(.rootStream, (8 << 20) / 2) == (8 << 20) / 2)
        // A stream's, while its call is open; none for a stream with no call.
        #expect(try update(1, 1000) == nil)
        try channel.writeInbound(Self.requestHeaders())
        #expect(try update(1, (1 << 20) / 2 + 1) == nil)
        #expect(try update(1, 1000) == (1 << 20) - 1000)
        #expect(try update(1, -10) == (1 << 20) + 10)
        _ = try channel.finish()
    }

    @Test("a message over the limit is skipped, not kept, and reported with its length")
    func oversizedMessage() throws {
        var reader = GRPCRequestMessage(limit: 10, readLimit: 5000)
        var big = Self.prefixed(Array(repeating: 1, count: 4096))
        try reader.append(&big)
        #expect(try reader.finish() == .oversized(4096))
        // Over the read limit: refused as soon as the length is read, before any of the message.
        var huge = GRPCRequestMessage(limit: 10, readLimit: 5000)
        var prefix = Self.prefixed(Array(repeating: 1, count: 5001)).getSlice(at: 0, length: 5)!
        #expect(throws: GRPCCallError(.resourceExhausted, "the request message is 5001 bytes, over 5000")) {
            try huge.append(&prefix)
        }
        guard case .refused(let error) = EnvoyCheckInput(.oversized(17 << 20)) else {
            Issue.record("an oversized message was not refused")
            return
        }
        #expect(error.message.contains("over Moat's limit"))
    }

    @Test("a stream that is not one whole uncompressed message is a gRPC error naming why")
    func notOneMessage() throws {
        func fault(_ chunks: [ByteBuffer]) -> GRPCCallError? {
            var reader = GRPCRequestMessage(limit: 100, readLimit: 1000)
            do throws(GRPCCallError) {
                for var chunk in chunks { try reader.append(&chunk) }
                _ = try reader.finish()
                return nil
            } catch {
                return error
            }
        }
        #expect(fault([Self.prefixed([1]), Self.prefixed([2])])?.message.contains("one request message") == true)
        #expect(fault([])?.message.contains("no request message") == true)
        #expect(fault([Self.prefixed([1, 2, 3]).getSlice(at: 0, length: 6)!])?.message.contains("inside") == true)
        #expect(fault([Self.prefixed([1, 2])]) == nil)
        #expect(fault([Self.prefixed([1], compressed: true)])?.code == .internalError)
    }

    @Test(
        "headers that are not a gRPC call to Check are refused at once: 415, INVALID_ARGUMENT, UNIMPLEMENTED",
        arguments: [
            ([("content-type", "text/plain")], nil, "415", nil),
            ([(":method", "GET")], nil, "200", "3"),
            ([], "/envoy.service.auth.v3.Authorization/Nope", "200", "12"),
            ([("grpc-encoding", "gzip")], nil, "200", "12"),
        ] as [([(String, String)], String?, String, String?)]
    )
    func refusedHeaders(replace: [(String, String)], path: String?, status: String, grpcStatus: String?) throws {
        let channel = try Self.connection()
        guard case .headers(var request) = Self.requestHeaders(path: path ?? EnvoyConnectionHandler.checkPath).payload
        else {
            return
        }
        for (name, value) in replace { request.headers.replaceOrAdd(name: name, value: value) }
        try channel.writeInbound(HTTP2Frame(streamID: 1, payload: .headers(request)))
        let frames = try Self.written(channel)
        let answer = Self.headers(frames.first)
        #expect(frames.count == 1 && answer?.endStream == true, "\(frames)")
        #expect(answer?.0.first(name: ":status") == status)
        #expect(answer?.0.first(name: "grpc-status") == grpcStatus)
        // What follows on the stream is dropped, not answered again.
        try channel.writeInbound(Self.data(Self.prefixed([]), endStream: true))
        #expect(try Self.written(channel).isEmpty)
        _ = try channel.finish()
    }

    @Test("a message still incomplete at the request's grpc-timeout is answered DEADLINE_EXCEEDED")
    func stalledMessageMeetsItsDeadline() throws {
        let metrics = ServerMetrics()
        let channel = try Self.stalledCall(metrics: metrics)
        #expect(try Self.written(channel).isEmpty)
        channel.embeddedEventLoop.advanceTime(to: .now() + .seconds(1))
        let answer = Self.headers(try Self.written(channel).first)
        #expect(answer?.0.first(name: "grpc-status") == "4" && answer?.endStream == true)
        #expect(metrics.text().contains("moat_checks_undecided_total{status=\"DEADLINE_EXCEEDED\"} 1"))
        _ = try channel.finish()
    }

    @Test("grpc-message is percent-encoded: bytes outside printable ASCII, and %")
    func grpcMessageEncoding() {
        #expect(GRPCCallError.percentEncoded("no rules loaded") == "no rules loaded")
        #expect(GRPCCallError.percentEncoded("100% µs\n") == "100%25 %C2%B5s%0A")
    }
}
