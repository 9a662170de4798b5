import Foundation
import MoatCore
import MoatWire
import NIOCore
import Testing

@testable import MoatClient

#if canImport(Glibc)
import Glibc
#endif

extension MoatdIntegrationTests {
    /// The clients' side of connection-level refusals (docs/protocol.md "Connection-level answers:
    /// stream 0": "A client should fail every request still waiting on that connection with that
    /// status"), against a fake daemon that accepts, sends a refusal on stream 0 and closes — what
    /// moatd does to a peer not allowed on the control socket. A call must then fail promptly with
    /// the daemon's status, within its deadline; never hang.
    @Suite("Clients and refused connections")
    struct ClientRefusals {
        static func refusal(_ status: StatusCode, _ message: String) -> [UInt8] {
            var payload = ByteBufferBox()
            payload.append(StatusError(code: status, message: message))
            return RawFrame.bytes(streamID: 0, method: 0, flags: 1, status: status.rawValue, payload: payload.bytes)
        }

        @Test("MoatControlClient: a call on a connection the daemon refused fails with its status, it does not hang")
        func controlCallAfterRefusal() async throws {
            try await withSandbox { sandbox in
                let fake = try FakeDaemon(
                    path: sandbox.file("control.sock"),
                    greeting: Self.refusal(.permissionDenied, "uid 0 is not allowed on the control socket")
                )
                defer { fake.stop() }
                let path = fake.path
                // The call is made once the refusal has arrived and the connection is closed, as
                // happens when moatd refuses a peer before moatctl sends its request.
                let result = await outcome(within: .seconds(15)) {
                    try await MoatControlClient.withConnection(socketPath: path, timeout: .seconds(3)) { client in
                        try await client.closeFuture.get()
                        return try await client.status()
                    }
                }
                switch result {
                case nil:
                    Issue.record("the Status call neither returned nor failed within 15 s (its own timeout is 3 s)")
                case .success(let status)?:
                    Issue.record("a refused connection answered Status: \(status)")
                case .failure(let error)?:
                    let status = (error as? MoatClientError)?.status
                    #expect(
                        status == .permissionDenied,
                        "the call failed with \(error), not with the daemon's PERMISSION_DENIED"
                    )
                }
            }
        }

        @Test("moatctl against a daemon that refuses it: exit 1 with the daemon's reason, every time (8 runs)")
        func moatctlAfterRefusal() async throws {
            try await withSandbox { sandbox in
                let fake = try FakeDaemon(
                    path: sandbox.file("control.sock"),
                    greeting: Self.refusal(.permissionDenied, "uid 0 is not allowed on the control socket")
                )
                defer { fake.stop() }
                var outcomes: [String: Int] = [:]
                for _ in 0..<8 {
                    let child = try sandbox.spawn(moatctlPath, ["status", "--control-socket", fake.path])
                    let end = await child.waitForExit(timeout: .seconds(5))
                    if end == nil { await child.killHard() }
                    let key =
                        end.map {
                            "\($0)"
                                + ($0 == .exit(1) && !child.stderr().contains("not allowed")
                                    ? " without the reason" : "")
                        } ?? "hung"
                    outcomes[key, default: 0] += 1
                }
                #expect(outcomes == ["exit 1": 8], "moatctl status against a refusing daemon, 8 runs: \(outcomes)")
            }
        }

        @Test("MoatClient: checks against a refusing daemon are not decided, within the deadline")
        func checkAgainstRefusingDaemon() async throws {
            try await withSandbox { sandbox in
                let fake = try FakeDaemon(
                    path: sandbox.file("moat.sock"),
                    greeting: Self.refusal(.unavailable, "connection limit of 3 reached")
                )
                defer { fake.stop() }
                let path = fake.path
                let configuration = {
                    var configuration = MoatClient.Configuration.integrationTests(connections: 1)
                    configuration.deadline = .seconds(2)
                    return configuration
                }()
                let results = await outcome(within: .seconds(30)) {
                    await withMoatClient(socketPath: path, configuration: configuration) { client in
                        var results: [CheckResult] = []
                        for _ in 0..<10 { results.append(await client.check(TestDocuments.aliceGetsSecret())) }
                        return results
                    }
                }
                guard case .success(let checks)? = results else {
                    Issue.record("10 checks with a 2 s deadline did not finish within 30 s")
                    return
                }
                #expect(checks.allSatisfy { $0.decision == nil && !$0.isAllowed })
            }
        }
    }
}

/// Encodes wire messages into plain bytes.
struct ByteBufferBox {
    private(set) var bytes: [UInt8] = []

    mutating func append(_ message: some WireMessage) {
        var buffer = ByteBuffer()
        try? message.encode(into: &buffer)
        bytes += buffer.readableBytesView
    }
}
