import Foundation
import MoatClient
import MoatCore
import MoatWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension MoatdIntegrationTests {
    /// What a service embedding `MoatClient` sees when the daemon is slow, gone or restarting,
    /// and what the decision cache does.
    @Suite("MoatClient against a real daemon")
    struct ClientBehaviour {
        static func configuration(
            _ adjust: (inout MoatClient.Configuration) -> Void = { _ in }
        ) -> MoatClient.Configuration {
            var configuration = MoatClient.Configuration.integrationTests(connections: 1)
            adjust(&configuration)
            return configuration
        }

        @Test("a daemon that stops answering: the deadline passes, and the failure policy decides")
        func deadline() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments)
                let request = TestDocuments.aliceGetsSecret()
                for policy in [MoatClient.FailurePolicy.closed, .open] {
                    let configuration = Self.configuration {
                        $0.deadline = .seconds(3)
                        $0.failurePolicy = policy
                    }
                    try await withMoatClient(socketPath: daemon.socket, configuration: configuration) { client in
                        let answered = await client.check(request)
                        #expect(answered.isAllowed && answered.decision != nil, "\(answered.summary)")
                        daemon.send(SIGSTOP)
                        try await Self.waitUntilStopped(daemon.pid)
                        let late = await client.check(request)
                        daemon.send(SIGCONT)
                        #expect(late.decision == nil)
                        #expect(late.error?.code == .deadlineExceeded, "\(late.summary)")
                        #expect(late.isAllowed == (policy == .open))
                        #expect(late.failedOpen == (policy == .open))
                        // Still usable afterwards: the late answer is dropped, new ones match.
                        let again = await client.check(request)
                        #expect(again.isAllowed && again.decision != nil, "\(again.summary)")
                    }
                }
            }
        }

        /// Waits until the kernel reports the process stopped (SIGSTOP takes effect asynchronously).
        static func waitUntilStopped(_ pid: Int32) async throws {
            for _ in 0..<500 {
                let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
                if status.contains("State:\tT") { return }
                try await Task.sleep(for: .milliseconds(10))
            }
            Issue.record("process \(pid) did not stop")
        }

        @Test("no daemon: could not decide at once, denied by default, allowed and flagged when failing open")
        func unreachable() async throws {
            try await withSandbox { sandbox in
                let request = TestDocuments.aliceGetsSecret()
                await withMoatClient(socketPath: sandbox.socketPath, configuration: Self.configuration()) {
                    client in
                    let result = await client.check(request)
                    #expect(!result.isAllowed && !result.failedOpen)
                    #expect(result.error?.code == .unreachable && result.error?.status == .unavailable)
                }
                await withMoatClient(
                    socketPath: sandbox.socketPath,
                    configuration: Self.configuration { $0.failurePolicy = .open }
                ) { client in
                    let result = await client.check(request)
                    #expect(result.isAllowed && result.failedOpen && result.decision == nil)
                }
            }
        }

        @Test("a daemon restart in the middle of a stream of checks: the same client is served again")
        func restart() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let request = TestDocuments.aliceGetsSecret()
                var daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments)
                try await withMoatClient(
                    socketPath: sandbox.socketPath,
                    configuration: Self.configuration { $0.connections = 2 }
                ) { client in
                    for _ in 0..<20 { #expect(await client.check(request).isAllowed) }
                    await daemon.stop()
                    let down = await client.check(request)
                    #expect(down.decision == nil && !down.isAllowed, "\(down.summary)")
                    daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments)
                    // Reconnects are spaced by backoff (at most 200 ms here): allow a few tries.
                    var served = false
                    for _ in 0..<50 where !served {
                        served = await client.check(request).decision != nil
                        if !served { try await Task.sleep(for: .milliseconds(100)) }
                    }
                    #expect(served)
                    for _ in 0..<20 { #expect(await client.check(request).isAllowed) }
                }
                await daemon.stop()
            }
        }

        @Test(
            "the decision cache: reused until its time to live, dropped on a new revision, never for could-not-decide"
        )
        func cache() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments)
                let request = TestDocuments.aliceGetsSecret()
                var other = request
                other.objectName = "another-secret"
                let configuration = Self.configuration {
                    $0.decisionCache = .init(maximumEntries: 100, timeToLive: .seconds(30))
                }
                try await withMoatClient(socketPath: daemon.socket, configuration: configuration) { client in
                    let first = await client.check(request)
                    #expect(first.isAllowed && !first.isCached)
                    let second = await client.check(request)
                    #expect(second.isAllowed && second.isCached)
                    #expect(second.decision?.revision == first.decision?.revision)

                    // The rules change: the cache keeps answering until an answer shows the new revision…
                    _ = try await daemon.control { try await $0.putDocument(TestDocuments.denying) }
                    #expect(await client.check(request).isCached)
                    // …which any fresh answer does; then the cached allow is gone.
                    let fresh = await client.check(other)
                    #expect(!fresh.isCached && fresh.decision?.innerCode == .forbiddenByFirewall)
                    let after = await client.check(request)
                    #expect(!after.isCached && after.decision?.innerCode == .forbiddenByFirewall, "\(after.summary)")
                }
                await daemon.stop()
                await withMoatClient(socketPath: daemon.socket, configuration: configuration) { client in
                    let down = await client.check(request)
                    #expect(down.decision == nil && !down.isCached)
                    #expect(!(await client.check(request).isCached))
                }
            }
        }
    }
}
