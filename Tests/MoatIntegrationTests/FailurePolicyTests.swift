import Foundation
import MoatClient
import MoatCore
import MoatWire
import NIOCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension MoatdIntegrationTests {
    /// Issue 8, H1 and M5: what a caller puts in a check never turns into "could not decide" that
    /// an open failure policy would allow, never fails other checks, and never ends a connection
    /// other checks share.
    @Suite("Failure policy and caller-controlled input")
    struct FailurePolicy {
        /// A token no key signed, whose `iss` claim is a NUL character (`{"iss":"\u0000",…}`).
        static let nulIssuerToken: String = {
            func segment(_ json: String) -> String { Base64URL.encode(json.utf8) }
            let expiry = Int(Date().timeIntervalSince1970) + 3600
            let header = segment(#"{"alg":"RS256","typ":"JWT","kid":"no-such-key"}"#)
            let payload = segment(#"{"iss":"\u0000","aud":"https://vault.azure.net","exp":\#(expiry)}"#)
            return "\(header).\(payload).c2lnbmF0dXJl"
        }()

        /// alice's request with the NUL-issuer token instead of her asserted identity.
        static var nulIssuerRequest: CheckRequest {
            var request = TestDocuments.aliceGetsSecret()
            request.assertedIdentity = nil
            request.token = "Bearer \(nulIssuerToken)"
            return request
        }

        /// One connection, so that every check shares it; failing open, so that a failure that
        /// would fail open shows.
        static var failingOpen: MoatClient.Configuration {
            var configuration = MoatClient.Configuration.integrationTests(connections: 1)
            configuration.failurePolicy = .open
            return configuration
        }

        /// Runs `body` with a daemon serving `TestDocuments.allowing` (the test process a trusted
        /// asserter) and a client of it, `failingOpen`.
        static func withDaemonAndClient(_ body: (DaemonProcess, MoatClient) async throws -> Void) async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments)
                try await withMoatClient(socketPath: daemon.socket, configuration: failingOpen) { client in
                    try await body(daemon, client)
                }
            }
        }

        @Test("a token whose iss is NUL gets a 401 decision, alone and among good requests of a batch")
        func nulInToken() async throws {
            try await Self.withDaemonAndClient { daemon, client in
                let alone = await client.check(Self.nulIssuerRequest)
                #expect(alone.decision?.code == .unauthorized && !alone.isAllowed, "\(alone.summary)")
                #expect(alone.decision?.innerCode == .invalidToken)
                let good = TestDocuments.aliceGetsSecret()
                let batch = await client.checkBatch([good, Self.nulIssuerRequest, good])
                #expect(batch.count == 3)
                #expect(batch.map { $0.decision?.code } == [.ok, .unauthorized, .ok], "\(batch.map(\.summary))")
                #expect(batch.map(\.isAllowed) == [true, false, true])
                // Through the raw socket too: status 0 and a decodable 401, not INTERNAL.
                let connection = try await RawConnection.connect(daemon.socket)
                defer { connection.shutdown() }
                try await connection.send(try RawFrame.check(streamID: 5, Self.nulIssuerRequest))
                let frame = try await connection.readFrame()
                #expect(frame.status == 0, "\(frame)")
                let decision = try Decision(wirePayload: ByteBuffer(bytes: frame.payload))
                #expect(decision.outcome == .deny && decision.httpStatus == 401)
                #expect(!decision.message.contains("\u{0}"))
            }
        }

        @Test("an oversized check is refused by the client, and the checks pipelined beside it are all answered")
        func oversizedCheck() async throws {
            let oversized = {
                var request = TestDocuments.aliceGetsSecret()
                request.token = String(repeating: "a", count: 70 * 1024)
                return request
            }()
            try await Self.withDaemonAndClient { daemon, client in
                let good = TestDocuments.aliceGetsSecret()
                let first = await client.check(good)  // the one connection is up
                #expect(first.decision?.outcome == .allow, "\(first.summary)")
                // The daemon is stopped: it can answer nothing, so the oversized check ends only
                // if the client refuses it without sending it (sent, it would wait out its
                // deadline). The checks sent after it on the shared connection are answered once
                // the daemon runs again: the refusal left nothing on the connection.
                daemon.send(SIGSTOP)
                defer { daemon.send(SIGCONT) }
                try await ClientBehaviour.waitUntilStopped(daemon.pid)
                let result = await client.check(oversized)
                #expect(result.error?.code == .requestRefused, "\(result.summary)")
                #expect(result.error?.status == .resourceExhausted)
                #expect(result.error?.fault == .request)
                #expect(!result.isAllowed && !result.failedOpen)
                let answered = Task {
                    await withTaskGroup(of: CheckResult.self) { group in
                        for _ in 0..<32 { group.addTask { await client.check(good) } }
                        return await group.reduce(into: []) { $0.append($1) }
                    }
                }
                daemon.send(SIGCONT)
                let others = await answered.value
                #expect(others.count == 32)
                #expect(others.allSatisfy { $0.decision?.outcome == .allow }, "\(others.map(\.summary))")
                // The daemon never saw it: a frame over its limit is refused by the daemon and counted.
                let metrics = try await daemon.control { try await $0.metrics() }
                #expect(metrics.contains(#"moat_refusals_total{reason="frame_too_large"} 0"#), "\(metrics)")
                // In a batch, the oversized request alone is refused.
                let batch = await client.checkBatch([good, oversized, good])
                #expect(batch.map { $0.decision?.outcome } == [.allow, nil, .allow])
                #expect(batch[1].error?.code == .requestRefused && !batch[1].isAllowed)
            }
        }

        @Test("a request frame whose status field is not 0 is INVALID_ARGUMENT, and the connection stays open")
        func statusInRequest() async throws {
            try await Self.withDaemonAndClient { daemon, _ in
                for socket in [daemon.socket, daemon.controlSocket] {
                    let connection = try await RawConnection.connect(socket)
                    defer { connection.shutdown() }
                    let method = socket == daemon.socket ? MethodID.ping : .status
                    try await connection.send(RawFrame.bytes(streamID: 3, method: method.rawValue, status: 13))
                    let refused = try await connection.readFrame()
                    #expect(refused.streamID == 3 && refused.statusName == "INVALID_ARGUMENT", "\(refused)")
                    #expect(refused.error?.message.contains("status field") == true, "\(refused)")
                    try await connection.send(RawFrame.bytes(streamID: 4, method: method.rawValue))
                    let answered = try await connection.readFrame()
                    #expect(answered.streamID == 4 && answered.status == 0, "\(answered)")
                }
            }
        }

        @Test(
            "failing open allows only when the daemon is unavailable",
            arguments: [
                (StatusCode.invalidArgument, false), (.resourceExhausted, false), (.internalError, false),
                (.unimplemented, false), (.permissionDenied, false), (.unavailable, true), (.deadlineExceeded, true),
            ]
        )
        func openOnlyOnAvailability(status: StatusCode, allowed: Bool) async throws {
            try await withSandbox { sandbox in
                let daemon = try FakeDaemon(path: sandbox.socketPath, serve: answering(status))
                defer { daemon.stop() }
                try await withMoatClient(socketPath: daemon.path, configuration: Self.failingOpen) { client in
                    let request = TestDocuments.aliceGetsSecret()
                    let single = await client.check(request)
                    #expect(single.error?.status == status, "\(single.summary)")
                    #expect(single.isAllowed == allowed && single.failedOpen == allowed)
                    // The same status on an item of a batch.
                    let batch = await client.checkBatch([request, request])
                    #expect(batch.map { $0.error?.status } == [status, status], "\(batch.map(\.summary))")
                    #expect(batch.map(\.isAllowed) == [allowed, allowed])
                    let pong = try await client.ping()
                    #expect(pong.ready)
                }
            }
        }
    }
}

/// What a daemon unable to decide answers on `connection`: every Check with `status` (an `Error`
/// payload), every CheckBatch with OK and one `status` item per request, Ping with a ready Pong.
/// For statuses the real daemon cannot be made to answer (`FakeDaemon`).
private func answering(_ status: StatusCode) -> @Sendable (Int32) -> Void {
    { connection in
        let error = StatusError(code: status, message: "the test daemon answers \(status)")
        while let header = receive(connection, 12) {
            let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
            guard length >= 8, let payload = receive(connection, length - 8) else { return }
            let streamID = header[4..<8].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let method = MethodID(rawValue: header[8])
            var answer = ByteBuffer()
            var answerStatus = StatusCode.ok
            switch method {
            case .checkBatch:
                let count = (try? CheckBatchRequest(wirePayload: ByteBuffer(bytes: payload)).requests.count) ?? 0
                try? CheckBatchResponse(items: Array(repeating: .error(error), count: count)).encode(into: &answer)
            case .ping:
                try? Pong(ready: true, revision: nil).encode(into: &answer)
            default:
                answerStatus = status
                try? error.encode(into: &answer)
            }
            let frame = RawFrame.bytes(
                streamID: streamID,
                method: method.rawValue,
                flags: 1,
                status: answerStatus.rawValue,
                payload: Array(answer.readableBytesView)
            )
            let sent = frame.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent == frame.count else { return }
        }
    }
}

/// Exactly `count` bytes from `fd`, or nil at end of stream.
private func receive(_ fd: Int32, _ count: Int) -> [UInt8]? {
    var bytes = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
        let got = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + done, count - done, 0) }
        if got < 0 && errno == EINTR { continue }
        guard got > 0 else { return nil }
        done += got
    }
    return bytes
}
