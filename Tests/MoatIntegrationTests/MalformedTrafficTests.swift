import Foundation
import MoatClient
import MoatCore
import MoatTestSupport
import MoatWire
import NIOCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension MoatdIntegrationTests {
    /// Traffic the real clients never send, on raw sockets (docs/protocol.md,
    /// docs/protocol.md "Limits"), while a well-behaved `MoatClient` keeps checking on its own
    /// connection: it must not see a single failure, before, during or after.
    @Suite("Malformed traffic")
    struct MalformedTraffic {
        /// One kind of bad traffic and what the daemon must answer to it.
        struct Scenario: Sendable, CustomTestStringConvertible {
            let name: String
            /// Extra `moatd` flags.
            var arguments: [String] = []
            let run: @Sendable (DaemonProcess) async throws -> Void

            var testDescription: String { name }
        }

        static let request = TestDocuments.aliceGetsSecret()

        static let scenarios: [Scenario] = [
            Scenario(name: "a frame with N < 8: INVALID_ARGUMENT on stream 0, then close") { daemon in
                let raw = try await RawConnection.connect(daemon.socket)
                try await raw.send([0, 0, 0, 4, 0, 0, 0, 1])
                let answer = try await raw.readFrame()
                #expect(
                    answer.streamID == 0 && answer.flags & 1 == 1 && answer.statusName == "INVALID_ARGUMENT",
                    "\(answer)"
                )
                #expect(try await raw.readUntilClosed().closed, "the connection stayed open")
            },
            Scenario(name: "a frame over 64 KiB: RESOURCE_EXHAUSTED on stream 0 before its payload is sent, then close")
            { daemon in
                let raw = try await RawConnection.connect(daemon.socket)
                // Only the length field (N = 64 KiB + 1) and the header: the payload never comes.
                try await raw.send([0, 1, 0, 1, 0, 0, 0, 5, MethodID.check.rawValue, 0, 0, 0])
                let answer = try await raw.readFrame(timeout: .seconds(20))
                #expect(answer.streamID == 0 && answer.statusName == "RESOURCE_EXHAUSTED", "\(answer)")
                #expect(try await raw.readUntilClosed().closed, "the connection stayed open")
            },
            Scenario(name: "a frame of exactly 64 KiB is answered") { daemon in
                let frame = try MalformedTraffic.checkFrame(streamID: 6, length: 64 * 1024)
                #expect(frame.count == 4 + 64 * 1024)
                let raw = try await RawConnection.connect(daemon.socket)
                try await raw.send(frame)
                let answer = try await raw.readFrame()
                #expect(answer.streamID == 6 && answer.status == 0, "\(answer)")
            },
            Scenario(name: "a request with the response flag: INVALID_ARGUMENT, then close") { daemon in
                let raw = try await RawConnection.connect(daemon.socket)
                try await raw.send(RawFrame.bytes(streamID: 9, method: MethodID.ping.rawValue, flags: 1))
                let answer = try await raw.readFrame()
                #expect(
                    (answer.streamID == 9 || answer.streamID == 0) && answer.statusName == "INVALID_ARGUMENT",
                    "\(answer)"
                )
                #expect(try await raw.readUntilClosed().closed, "the connection stayed open")
            },
            Scenario(name: "a reserved flag bit: INVALID_ARGUMENT, the connection stays open") { daemon in
                let raw = try await RawConnection.connect(daemon.socket)
                try await MalformedTraffic.expectAnswer(
                    on: raw,
                    to: RawFrame.bytes(streamID: 10, method: MethodID.ping.rawValue, flags: 2),
                    streamID: 10,
                    status: "INVALID_ARGUMENT"
                )
                try await MalformedTraffic.expectPong(on: raw, streamID: 11)
            },
            Scenario(name: "a Check payload that does not decode: INVALID_ARGUMENT, the connection stays open") {
                daemon in
                let raw = try await RawConnection.connect(daemon.socket)
                try await MalformedTraffic.expectAnswer(
                    on: raw,
                    to: RawFrame.bytes(
                        streamID: 12,
                        method: MethodID.check.rawValue,
                        payload: [0xff, 0xff, 0xff, 0xff, 0x0f]
                    ),
                    streamID: 12,
                    status: "INVALID_ARGUMENT"
                )
                try await MalformedTraffic.expectPong(on: raw, streamID: 13)
            },
            Scenario(name: "a Ping payload that does not decode: INVALID_ARGUMENT, the connection stays open") {
                daemon in
                let raw = try await RawConnection.connect(daemon.socket)
                try await MalformedTraffic.expectAnswer(
                    on: raw,
                    to: RawFrame.bytes(
                        streamID: 28,
                        method: MethodID.ping.rawValue,
                        payload: [0xff, 0xff, 0xff, 0xff, 0x0f]
                    ),
                    streamID: 28,
                    status: "INVALID_ARGUMENT"
                )
                try await MalformedTraffic.expectPong(on: raw, streamID: 29)
            },
            Scenario(
                name:
                    "a NUL byte or invalid UTF-8 in a string: INVALID_ARGUMENT naming the field, the connection stays open"
            ) { daemon in
                let raw = try await RawConnection.connect(daemon.socket)
                let nulVault = ProtobufBytes().bytes(1, Array("it".utf8) + [0] + Array("vault".utf8)).varint(2, 101)
                var answer = try await MalformedTraffic.expectAnswer(
                    on: raw,
                    to: RawFrame.bytes(streamID: 14, method: MethodID.check.rawValue, payload: nulVault.bytes),
                    streamID: 14,
                    status: "INVALID_ARGUMENT"
                )
                #expect(answer.error?.message.contains("vault") == true, "\(answer)")

                let badUTF8 = ProtobufBytes().string(1, TestDocuments.vault).varint(2, 101).bytes(
                    3,
                    [0x64, 0xc3, 0x28]
                )
                answer = try await MalformedTraffic.expectAnswer(
                    on: raw,
                    to: RawFrame.bytes(streamID: 15, method: MethodID.check.rawValue, payload: badUTF8.bytes),
                    streamID: 15,
                    status: "INVALID_ARGUMENT"
                )
                #expect(answer.error?.message.contains("object_name") == true, "\(answer)")

                let identity = ProtobufBytes().string(1, TestDocuments.alice).string(3, TestDocuments.tenant)
                    .bytes(4, Array("90000000".utf8) + [0] + Array("x".utf8))
                let good = ProtobufBytes().string(1, TestDocuments.vault).varint(2, 101)
                let batch = ProtobufBytes().message(1, good).message(1, good.message(10, identity))
                // In a batch, that request alone is refused (its own item); the other is decided.
                answer = try await MalformedTraffic.expectAnswer(
                    on: raw,
                    to: RawFrame.bytes(streamID: 16, method: MethodID.checkBatch.rawValue, payload: batch.bytes),
                    streamID: 16,
                    status: "OK"
                )
                let items = try CheckBatchResponse(wirePayload: ByteBuffer(bytes: answer.payload)).items
                #expect(items.count == 2, "\(items)")
                if case .error(let error) = items.last {
                    #expect(error.code == .invalidArgument)
                    #expect(error.message.contains("requests[1].asserted_identity.groups[0]"), "\(error)")
                } else {
                    Issue.record("the request holding a NUL was decided: \(items)")
                }
                if case .decision = items.first {} else { Issue.record("the good request was not decided: \(items)") }
                try await MalformedTraffic.expectPong(on: raw, streamID: 17)
            },
            Scenario(
                name:
                    "an unknown method id and a control method on the data socket: UNIMPLEMENTED, the connection stays open"
            ) { daemon in
                let raw = try await RawConnection.connect(daemon.socket)
                try await MalformedTraffic.expectAnswer(
                    on: raw,
                    to: RawFrame.bytes(streamID: 18, method: 99),
                    streamID: 18,
                    status: "UNIMPLEMENTED"
                )
                try await MalformedTraffic.expectAnswer(
                    on: raw,
                    to: RawFrame.bytes(streamID: 19, method: MethodID.status.rawValue),
                    streamID: 19,
                    status: "UNIMPLEMENTED"
                )
                try await MalformedTraffic.expectPong(on: raw, streamID: 20)

                // And a data method on the control socket.
                let control = try await RawConnection.connect(daemon.controlSocket)
                try await MalformedTraffic.expectAnswer(
                    on: control,
                    to: try RawFrame.check(streamID: 21, MalformedTraffic.request),
                    streamID: 21,
                    status: "UNIMPLEMENTED"
                )
                try await MalformedTraffic.expectAnswer(
                    on: control,
                    to: RawFrame.bytes(streamID: 22, method: MethodID.status.rawValue),
                    streamID: 22,
                    status: "OK"
                )
            },
            Scenario(
                name:
                    "a CheckBatch frame of 1025: RESOURCE_EXHAUSTED, the connection stays open; the client splits large batches"
            ) {
                daemon in
                // Small requests, so that even 1025 of them fit in a 64 KiB frame: the refusal must
                // be for the count. (1024 requests of the usual size do not fit: see the report.)
                var small = CheckRequest()
                small.vault = TestDocuments.vault
                small.operation = Operation(name: "GetSecret")
                let raw = try await RawConnection.connect(daemon.socket)
                var batch = ByteBuffer()
                try CheckBatchRequest(requests: Array(repeating: small, count: 1025)).encode(into: &batch)
                let frame = RawFrame.bytes(
                    streamID: 26,
                    method: MethodID.checkBatch.rawValue,
                    payload: Array(batch.readableBytesView)
                )
                #expect(frame.count < 64 * 1024)
                let answer = try await MalformedTraffic.expectAnswer(
                    on: raw,
                    to: frame,
                    streamID: 26,
                    status: "RESOURCE_EXHAUSTED"
                )
                #expect(answer.error?.message.contains("1024") == true, "\(answer)")
                try await MalformedTraffic.expectPong(on: raw, streamID: 27)

                try await daemon.withClient { client in
                    // The client splits what one frame cannot carry: more than 1024 requests, or
                    // more than the daemon's 64 KiB frame limit; the answers come back in order.
                    let many = await client.checkBatch(Array(repeating: small, count: 1025))
                    #expect(
                        many.count == 1025 && many.allSatisfy { $0.decision?.innerCode == .missingToken },
                        "\(many.first.map(\.summary) ?? "")"
                    )
                    var large = small
                    large.token = String(repeating: "x", count: 200)
                    var requests = Array(repeating: large, count: 600)
                    requests[599].vault = "no-such-vault"
                    let split = await client.checkBatch(requests)
                    #expect(split.count == 600)
                    #expect(
                        split.dropLast().allSatisfy { $0.decision?.innerCode == .invalidToken },
                        "\(split.first.map(\.summary) ?? "")"
                    )
                    #expect(split.last?.decision?.code == .vaultNotFound)
                }
            },
            Scenario(name: "a truncated frame, then disconnect") { daemon in
                let raw = try await RawConnection.connect(daemon.socket)
                try await raw.send(Array(try RawFrame.check(streamID: 23, MalformedTraffic.request).prefix(7)))
                raw.shutdown()
                // A second one cut inside the payload.
                let other = try await RawConnection.connect(daemon.socket)
                let frame = try RawFrame.check(streamID: 24, MalformedTraffic.request)
                try await other.send(Array(frame.prefix(frame.count - 3)))
                other.shutdown()
            },
            Scenario(
                name:
                    "a frame that never completes: INVALID_ARGUMENT on stream 0 after --partial-frame-timeout, then close"
            ) { daemon in
                let raw = try await RawConnection.connect(daemon.socket)
                try await raw.send(Array(try RawFrame.check(streamID: 25, MalformedTraffic.request).prefix(6)))
                let (closed, frames) = try await raw.readUntilClosed(timeout: .seconds(30))
                #expect(closed, "the connection stayed open")
                #expect(
                    frames.count == 1 && frames.first?.streamID == 0 && frames.first?.statusName == "INVALID_ARGUMENT",
                    "\(frames)"
                )
            },
            Scenario(name: "a client that disconnects with requests in flight") { daemon in
                let raw = try await RawConnection.connect(daemon.socket)
                var burst: [UInt8] = []
                for stream in UInt32(100)..<UInt32(200) {
                    burst += try RawFrame.check(streamID: stream, MalformedTraffic.request)
                }
                try await raw.send(
                    burst + Array(try RawFrame.check(streamID: 200, MalformedTraffic.request).prefix(20))
                )
                raw.shutdown()
            },
            Scenario(
                name: "the connection limit: the 4th connection gets UNAVAILABLE on stream 0, then close",
                arguments: ["--max-connections", "3", "--max-connections-per-uid", "3"]
            ) { daemon in
                // The well-behaved client holds one connection; two more fill the limit.
                try await MalformedTraffic.expectConnectionLimit(daemon, holding: 2, refusal: "connection limit of 3")
            },
            Scenario(
                name: "a control frame over --max-control-frame-bytes: RESOURCE_EXHAUSTED on stream 0, then close",
                arguments: ["--max-control-frame-bytes", "4096"]
            ) { daemon in
                let raw = try await RawConnection.connect(daemon.controlSocket)
                try await raw.send([0, 0, 0x10, 0x01, 0, 0, 0, 7, MethodID.putDocument.rawValue, 0, 0, 0])
                let (closed, frames) = try await raw.readUntilClosed()
                #expect(closed, "the connection stayed open")
                #expect(
                    frames.count == 1 && frames.first?.streamID == 0
                        && frames.first?.statusName == "RESOURCE_EXHAUSTED",
                    "\(frames)"
                )
            },
            Scenario(name: "an idle connection is closed after --idle-timeout", arguments: ["--idle-timeout", "1"]) {
                daemon in
                let raw = try await RawConnection.connect(daemon.socket)
                try await MalformedTraffic.expectPong(on: raw, streamID: 40)
                #expect(try await raw.readUntilClosed(timeout: .seconds(30)).closed, "the idle connection stayed open")
            },
        ]

        @Test("malformed traffic", arguments: scenarios)
        func malformed(_ scenario: Scenario) async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(
                    arguments: TestDocuments.asserterArguments + ["--partial-frame-timeout", "1"] + scenario.arguments
                )
                let progress = LoadProgress()
                let failures = try await withThrowingTaskGroup(of: [String].self) { group in
                    group.addTask {
                        var failures: [String] = []
                        await withMoatClient(
                            socketPath: daemon.socket,
                            configuration: .integrationTests(connections: 1)
                        ) { client in
                            while !progress.stopped {
                                let result = await client.check(Self.request)
                                if result.decision?.outcome != .allow { failures.append(result.summary) }
                                progress.add()
                            }
                        }
                        return failures
                    }
                    do {
                        try await progress.waitFor(20)
                        try await scenario.run(daemon)
                        try await progress.waitFor(20)
                    } catch {
                        progress.finish()
                        throw error
                    }
                    progress.finish()
                    return try await group.next() ?? []
                }
                #expect(
                    failures.isEmpty,
                    "the well-behaved client saw \(failures.count) failures: \(failures.prefix(5))"
                )
                #expect(daemon.isRunning)
                let socket = daemon.socket
                let fresh = await outcome(within: .seconds(60)) {
                    await withMoatClient(socketPath: socket, configuration: .integrationTests()) {
                        await $0.check(Self.request)
                    }
                }
                if case .success(let result)? = fresh {
                    #expect(result.decision?.outcome == .allow, "a new client after the scenario: \(result.summary)")
                } else {
                    Issue.record("a new client after the scenario got no result within 60 s")
                }
                #expect(await daemon.stop() == .exit(0))
            }
        }

        /// docs/protocol.md "Connection-level answers: stream 0": "on stream id 0 with method id 0,
        /// flags 1, a non-zero status and an Error payload".
        @Test("connection-level refusals come on stream 0 with method id 0")
        func connectionLevelRefusalsUseMethodZero() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon()
                var refusals: [RawFrame] = []
                let short = try await RawConnection.connect(daemon.socket)
                try await short.send([0, 0, 0, 4, 0, 0, 0, 1])
                refusals.append(try await short.readFrame())
                let large = try await RawConnection.connect(daemon.socket)
                try await large.send([0, 1, 0, 1])
                refusals.append(try await large.readFrame())
                for refusal in refusals {
                    #expect(refusal.streamID == 0 && refusal.flags == 1 && refusal.status != 0, "\(refusal)")
                    #expect(
                        refusal.method == 0,
                        "a stream-0 refusal carries method id \(refusal.method), not 0: \(refusal)"
                    )
                }
            }
        }

        /// docs/protocol.md: "A frame begun but not completed within 10 s (--partial-frame-timeout)
        /// closes the connection". Here every frame completes about 0.5 s after it begins, well
        /// within the 5 s timeout, but the writes never end on a frame boundary (as a busy
        /// pipelining client's can), so some frame is always partial when a read ends. The 14
        /// frames take 7 s in all: a timer started at the first partial frame and never restarted
        /// cuts the connection at 5 s.
        @Test("pipelined frames that each complete in time are not cut off by the partial-frame timeout")
        func partialFrameTimeoutCountsPerFrame() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: ["--partial-frame-timeout", "5"])
                let raw = try await RawConnection.connect(daemon.socket)
                let frames = 14
                let stream = (1...UInt32(frames + 1)).flatMap { RawFrame.ping(streamID: $0) }
                try await raw.send(Array(stream[0..<6]))
                var answered: [UInt32] = []
                var failure: String?
                for index in 0..<frames {
                    try await Task.sleep(for: .milliseconds(500))
                    // The second half of frame `index` and the first half of the next one.
                    do {
                        try await raw.send(Array(stream[(6 + 12 * index)..<(18 + 12 * index)]))
                        switch try await raw.read(timeout: .seconds(20)) {
                        case .frame(let frame) where frame.status == 0: answered.append(frame.streamID)
                        case .frame(let frame): failure = "answered \(frame) after \(answered.count) pongs"
                        case .closed: failure = "closed after \(answered.count) pongs"
                        }
                    } catch {
                        failure = "\(error) after \(answered.count) pongs"
                    }
                    if failure != nil { break }
                }
                #expect(
                    failure == nil,
                    "the connection was cut although no frame took more than about 0.5 s: \(failure ?? "")"
                )
                #expect(answered == Array(1...UInt32(frames)))
            }
        }

        /// Sends `frame` and reads the answer, which must carry `status` on `streamID`.
        @discardableResult
        static func expectAnswer(
            on raw: RawConnection,
            to frame: [UInt8],
            streamID: UInt32,
            status: String
        ) async throws -> RawFrame {
            try await raw.send(frame)
            let answer = try await raw.readFrame()
            #expect(answer.streamID == streamID && answer.statusName == status, "\(answer)")
            return answer
        }

        /// Opens `holding` connections (each answers a Ping), then one more, which must get
        /// UNAVAILABLE on stream 0 with a message containing `refusal`, and be closed; the
        /// admitted ones are untouched, and once one closes a new connection is served.
        static func expectConnectionLimit(_ daemon: DaemonProcess, holding: Int, refusal: String) async throws {
            var held: [RawConnection] = []
            for streamID in 1...UInt32(holding) {
                let raw = try await RawConnection.connect(daemon.socket)
                try await expectPong(on: raw, streamID: streamID)
                held.append(raw)
            }
            let over = try await RawConnection.connect(daemon.socket)
            let (closed, frames) = try await over.readUntilClosed(timeout: .seconds(10))
            #expect(closed, "the connection over the limit stayed open")
            #expect(
                frames.count == 1 && frames.first?.streamID == 0 && frames.first?.statusName == "UNAVAILABLE"
                    && (frames.first?.error?.message.contains(refusal) ?? false),
                "\(frames)"
            )
            over.shutdown()
            try await expectPong(on: held[0], streamID: 100)
            held.removeLast().shutdown()
            try await eventually("a new client to be admitted after a connection closed", timeout: .seconds(15)) {
                let raw = try await RawConnection.connect(daemon.socket)
                try await raw.send(RawFrame.ping(streamID: 101))
                guard case .frame(let frame)? = try? await raw.read(timeout: .seconds(2)) else { return false }
                return frame.status == 0
            }
        }

        static func expectPong(on raw: RawConnection, streamID: UInt32) async throws {
            try await raw.send(RawFrame.ping(streamID: streamID))
            let answer = try await raw.readFrame()
            #expect(
                answer.streamID == streamID && answer.status == 0 && answer.method == MethodID.ping.rawValue,
                "\(answer)"
            )
            let pong = try Pong(wirePayload: ByteBuffer(bytes: answer.payload))
            #expect(pong.ready)
        }

        /// A Check frame whose length field N is exactly `length`, padded with a long request id.
        static func checkFrame(streamID: UInt32, length: Int) throws -> [UInt8] {
            var padded = request
            var padding = length - 8 - (try RawFrame.check(streamID: streamID, request).count - 12)
            while padding > 0 {
                padded.requestId = String(repeating: "r", count: padding)
                let frame = try RawFrame.check(streamID: streamID, padded)
                let excess = frame.count - 4 - length
                if excess == 0 { return frame }
                padding -= excess
            }
            throw HarnessError("cannot pad a Check frame to \(length)")
        }
    }
}
