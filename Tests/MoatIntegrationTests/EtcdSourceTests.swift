import Foundation
import MoatClient
import MoatCore
import MoatWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension Sandbox {
    /// Starts `moatd` node `name` on the etcd source of `etcd` (docs/etcd.md), with its own
    /// sockets and cache file; waits until it listens (not until it is ready).
    func startEtcdNode(
        _ name: String,
        etcd: EtcdCluster,
        endpoints: [String]? = nil,
        prefix: String = "/moat/",
        arguments: [String] = []
    ) async throws -> DaemonProcess {
        try await startDaemon(
            rules: file("\(name)-cache.json"),
            socket: file("\(name).sock"),
            controlSocket: file("\(name)-control.sock"),
            arguments: [
                "--rules-source", "etcd", "--etcd-endpoints", (endpoints ?? etcd.endpoints).joined(separator: ","),
                "--etcd-prefix", prefix, "--node-name", name,
            ] + TestDocuments.asserterArguments + arguments
        )
    }
}

extension DaemonProcess {
    /// Adds IP rule `value` to the test vault through this node's control socket.
    func addIPRule(_ value: String) async throws -> ChangeResponse {
        try await control {
            try await $0.apply(.addIpRule(vault: TestDocuments.vault, value: value))
        }
    }
}

extension MoatdIntegrationTests {
    /// moatd fleets on the etcd rules source (docs/etcd.md) with a real etcd.
    @Suite("etcd rules source")
    struct EtcdSourceTests {
        @Test("a document pushed through one node is served by every node; changes through two nodes both survive")
        func changesReachEveryNode() async throws {
            try await withSandbox { sandbox in
                let etcd = try await EtcdCluster.start(in: sandbox)
                var started: [DaemonProcess] = []
                for index in 0..<3 { started.append(try await sandbox.startEtcdNode("node\(index)", etcd: etcd)) }
                let nodes = started
                let first = try await nodes[0].control { try await $0.putDocument(TestDocuments.denying) }
                #expect(first.changed)
                for node in nodes { try await node.waitUntilServing(hash: TestDocuments.hash(TestDocuments.denying)) }

                // Two operators at once, on two nodes: both changes are in the document everyone serves.
                async let one = nodes[1].addIPRule("198.51.100.1")
                async let two = nodes[2].addIPRule("198.51.100.2")
                let (added1, added2) = try await (one, two)
                #expect(added1.changed && added2.changed)
                let stored = try await etcd.etcdctlChecked("get", "--print-value-only", "/moat/document")
                #expect(stored.contains("198.51.100.1") && stored.contains("198.51.100.2"), "\(stored)")
                let final = TestDocuments.hash(Array(stored.dropLast().utf8))
                for node in nodes {
                    try await node.waitUntilServing(hash: final)
                    let document = try await node.control { try await $0.document() }
                    #expect(TestDocuments.hash(document.document) == final)
                    let status = try await node.status()
                    #expect((status.etcdSource ?? "").contains("/moat/"))
                    #expect(!status.stale)
                }
                // The cache holds what is served.
                #expect(TestDocuments.hash(try sandbox.read(nodes[0].rules)) == final)
                // The registry: every node, agreeing on the content hash once each has published it.
                try await eventually("every node registered as serving \(final)") {
                    let fleet = try await nodes[0].control { try await $0.fleetStatus() }
                    return fleet.nodes.count == 3 && fleet.nodes.allSatisfy { $0.revisionHash == final }
                }
                let fleet = try await nodes[1].control { try await $0.fleetStatus() }
                #expect(fleet.nodes.map(\.name).sorted() == ["node0", "node1", "node2"])
                #expect(fleet.agree && fleet.documentHash == final)
                let waited = try await sandbox.moatctl(
                    "fleet",
                    "status",
                    "--control-socket",
                    nodes[2].controlSocket,
                    "--wait",
                    final,
                    "--timeout",
                    "60"
                )
                #expect(waited.status == 0, "\(waited)")
                #expect(waited.stdout.contains("agree"), "\(waited)")
                let missing = try await sandbox.moatctl(
                    "fleet",
                    "status",
                    "--control-socket",
                    nodes[2].controlSocket,
                    "--wait",
                    "0123456789abcdef",
                    "--timeout",
                    "1"
                )
                #expect(missing.status == 1, "\(missing)")
            }
        }

        @Test("an invalid document written into etcd is refused by every node, which keep serving and show why")
        func invalidDocumentRefusedByAll() async throws {
            try await withSandbox { sandbox in try await Self.invalidDocumentRefused(in: sandbox) }
        }

        private static func invalidDocumentRefused(in sandbox: Sandbox) async throws {
            let etcd = try await EtcdCluster.start(in: sandbox)
            try await etcd.etcdctlChecked("put", "/moat/document", stdin: TestDocuments.allowing)
            var nodes: [DaemonProcess] = []
            for index in 0..<3 { nodes.append(try await sandbox.startEtcdNode("node\(index)", etcd: etcd)) }
            let good = TestDocuments.hash(TestDocuments.allowing)
            for node in nodes { try await node.waitUntilServing(hash: good) }
            try await etcd.etcdctlChecked("put", "/moat/document", stdin: TestDocuments.invalid)
            for node in nodes {
                try await eventually("the invalid document refused") {
                    let error = try await node.status().lastReloadError ?? ""
                    return error.contains("is invalid")
                }
                let status = try await node.status()
                #expect(status.revision?.hash == good)
                #expect(status.ready)
            }
            let first = nodes[0]
            try await eventually("every node's refusal in fleet status") {
                let fleet = try await first.control { try await $0.fleetStatus() }
                let errors = fleet.nodes.map { $0.lastError ?? "" }
                return errors.count == 3 && errors.allSatisfy { $0.contains("is invalid") }
            }
            // The checks go on from the last good rules.
            let allowed = try await nodes[2].withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
            #expect(allowed.decision?.outcome == .allow, "\(allowed.summary)")
        }

        @Test("a node name a live node holds is refused at start")
        func nodeNameHeld() async throws {
            try await withSandbox { sandbox in
                let etcd = try await EtcdCluster.start(in: sandbox)
                _ = try await sandbox.startEtcdNode("twin", etcd: etcd)
                let second = try await sandbox.runFailingDaemon(
                    rules: sandbox.file("second-cache.json"),
                    socket: sandbox.file("second.sock"),
                    controlSocket: sandbox.file("second-control.sock"),
                    arguments: [
                        "--rules-source", "etcd", "--etcd-endpoints", etcd.endpoints.joined(separator: ","),
                        "--node-name", "twin",
                    ]
                )
                #expect(second.status == 1, "\(second)")
                #expect(second.stderr.contains("held by a live node"), "\(second)")
            }
        }

        @Test(
            "with etcd down, nodes keep answering; a node restarted meanwhile serves its cache, stale; all converge when etcd is back"
        )
        func etcdDownAndBack() async throws {
            try await withSandbox { sandbox in
                let etcd = try await EtcdCluster.start(in: sandbox)
                try await etcd.etcdctlChecked("put", "/moat/document", stdin: TestDocuments.allowing)
                let steady = try await sandbox.startEtcdNode("steady", etcd: etcd, arguments: ["--etcd-timeout", "2"])
                var restarted = try await sandbox.startEtcdNode("restarted", etcd: etcd)
                let good = TestDocuments.hash(TestDocuments.allowing)
                try await steady.waitUntilServing(hash: good)
                try await restarted.waitUntilServing(hash: good)

                await etcd.stopMember(0)
                let answer = try await steady.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                #expect(answer.decision?.outcome == .allow, "\(answer.summary)")
                try await eventually("the steady node marked stale") { try await steady.status().stale }
                await restarted.stop()
                restarted = try await sandbox.startEtcdNode("restarted", etcd: etcd)
                let cached = try await restarted.status()
                #expect(cached.ready && cached.revision?.hash == good && cached.stale)
                let fromCache = try await restarted.withClient { await $0.check(TestDocuments.aliceGetsSecret()) }
                #expect(fromCache.decision?.outcome == .allow, "\(fromCache.summary)")
                // A change cannot be committed while etcd is down, and nothing changes.
                await #expect(throws: MoatClientError.self) { _ = try await steady.addIPRule("198.51.100.9") }

                try etcd.startMember(0)
                try await etcd.waitUntilHealthy(0)
                // The refused change left nothing behind, in etcd or on the node.
                let stored = try await etcd.etcdctlChecked("get", "--print-value-only", "/moat/document")
                #expect(!stored.contains("198.51.100.9"), "\(stored)")
                #expect(try await steady.status().revision?.hash == good)
                try await etcd.etcdctlChecked("put", "/moat/document", stdin: TestDocuments.denying)
                let next = TestDocuments.hash(TestDocuments.denying)
                for node in [steady, restarted] {
                    try await node.waitUntilServing(hash: next, timeout: .seconds(60))
                    try await eventually("not stale") { try await !node.status().stale }
                }
            }
        }

        @Test(
            "a change sent while etcd restarts is committed once etcd is back; past --etcd-timeout it is refused and nothing changes"
        )
        func changeWhileEtcdRestarts() async throws {
            try await withSandbox { sandbox in
                let etcd = try await EtcdCluster.start(in: sandbox)
                try await etcd.etcdctlChecked("put", "/moat/document", stdin: TestDocuments.allowing)
                let patient = try await sandbox.startEtcdNode(
                    "patient",
                    etcd: etcd,
                    arguments: ["--etcd-timeout", "120"]
                )
                let quick = try await sandbox.startEtcdNode("quick", etcd: etcd, arguments: ["--etcd-timeout", "1"])
                for node in [patient, quick] {
                    try await node.waitUntilServing(hash: TestDocuments.hash(TestDocuments.allowing))
                }

                await etcd.stopMember(0)
                let change = Task { try await patient.addIPRule("198.51.100.7") }
                // The change reaches a node whose etcd is down, then etcd comes back.
                try await Task.sleep(for: .milliseconds(500))
                try etcd.startMember(0)
                let response = try await change.value
                #expect(response.changed, "\(response.summary)")
                let stored = try await etcd.etcdctlChecked("get", "--print-value-only", "/moat/document")
                #expect(stored.contains("198.51.100.7"), "\(stored)")
                let committed = TestDocuments.hash(Array(stored.dropLast().utf8))
                #expect(response.revision.hash == committed)
                for node in [patient, quick] { try await node.waitUntilServing(hash: committed, timeout: .seconds(60)) }

                await etcd.stopMember(0)
                let refused = await #expect(throws: MoatClientError.self) {
                    _ = try await quick.addIPRule("198.51.100.8")
                }
                #expect(refused?.status == .unavailable)
                #expect(refused?.message.contains("nothing was changed") == true, "\(refused?.message ?? "")")
                #expect(refused?.message.contains(etcd.endpoints[0]) == true, "\(refused?.message ?? "")")
                #expect(try await quick.status().revision?.hash == committed)
                try etcd.startMember(0)
                try await etcd.waitUntilHealthy(0)
                let after = try await etcd.etcdctlChecked("get", "--print-value-only", "/moat/document")
                #expect(!after.contains("198.51.100.8"), "\(after)")
            }
        }

        @Test(
            "over a document whose chunks are missing, fleet status and changes are FAILED_PRECONDITION naming the chunk; with etcd down, UNAVAILABLE"
        )
        func documentThatCannotBeFollowed() async throws {
            try await withSandbox { sandbox in
                let etcd = try await EtcdCluster.start(in: sandbox)
                try await etcd.etcdctlChecked("put", "/moat/document", stdin: TestDocuments.allowing)
                let node = try await sandbox.startEtcdNode("node", etcd: etcd, arguments: ["--etcd-timeout", "1"])
                try await node.waitUntilServing(hash: TestDocuments.hash(TestDocuments.allowing))
                let chunk = "0123456789abcdef"
                let manifest = "moat-chunks v1\nhash fedcba9876543210\nsize 10\nchunk \(chunk)\n"
                try await etcd.etcdctlChecked("put", "/moat/document", stdin: Array(manifest.utf8))
                let fleet = await #expect(throws: MoatClientError.self) {
                    _ = try await node.control { try await $0.fleetStatus() }
                }
                let change = await #expect(throws: MoatClientError.self) {
                    _ = try await node.addIPRule("198.51.100.3")
                }
                for refused in [fleet, change] {
                    #expect(refused?.status == .failedPrecondition, "\(refused?.message ?? "")")
                    #expect(refused?.message.contains("chunk \(chunk)") == true, "\(refused?.message ?? "")")
                }
                await etcd.stopMember(0)
                let down = await #expect(throws: MoatClientError.self) {
                    _ = try await node.control { try await $0.fleetStatus() }
                }
                #expect(down?.status == .unavailable, "\(down?.message ?? "")")
            }
        }

        @Test("--etcd-timeout out of range, or without the etcd source, is a usage error naming it")
        func etcdTimeoutValidated() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let etcd = ["--rules-source", "etcd", "--etcd-endpoints", "http://127.0.0.1:2379"]
                for (arguments, says) in [
                    (etcd + ["--etcd-timeout", "0"], "--etcd-timeout: 0.0 must be more than 0"),
                    (etcd + ["--etcd-timeout", "3601"], "--etcd-timeout: 3601.0 must be more than 0"),
                    (["--etcd-timeout", "5"], "etcd options need --rules-source etcd"),
                ] {
                    let result = try await sandbox.runFailingDaemon(
                        socket: sandbox.socketPath,
                        controlSocket: sandbox.controlSocketPath,
                        arguments: arguments
                    )
                    #expect(result.status == 64 && result.stderr.contains(says), "\(arguments): \(result)")
                }
            }
        }

        @Test("a node whose watch revision was compacted reads the document again and converges")
        func compactionPastTheWatch() async throws {
            try await withSandbox { sandbox in
                let etcd = try await EtcdCluster.start(in: sandbox)
                try await etcd.etcdctlChecked("put", "/moat/document", stdin: TestDocuments.allowing)
                let node = try await sandbox.startEtcdNode("node", etcd: etcd)
                try await node.waitUntilServing(hash: TestDocuments.hash(TestDocuments.allowing))
                // etcd goes away; meanwhile (it is back, the node not yet reconnected) the history
                // the node would watch from is compacted.
                await etcd.stopMember(0)
                try await eventually("the node marked stale") { try await node.status().stale }
                node.send(SIGSTOP)
                try etcd.startMember(0)
                try await etcd.waitUntilHealthy(0)
                for tag in 0..<3 {
                    try await etcd.etcdctlChecked(
                        "put",
                        "/moat/document",
                        stdin: TestDocuments.document(defaultAction: "Deny", tag: "\(tag)")
                    )
                }
                let revision = try await etcd.etcdctlChecked("get", "/moat/document", "-w", "fields")
                    .split(separator: "\n").first { $0.hasPrefix("\"Revision\"") }
                    .flatMap { $0.split(separator: ":").last }
                    .map { String($0).trimmingCharacters(in: .whitespaces) }
                try await etcd.etcdctlChecked("compact", try #require(revision))
                node.send(SIGCONT)
                let last = TestDocuments.hash(TestDocuments.document(defaultAction: "Deny", tag: "2"))
                try await node.waitUntilServing(hash: last, timeout: .seconds(60))
                try await eventually("not stale") { try await !node.status().stale }
            }
        }

        @Test("a three-member etcd cluster loses a member during a stream of changes: none is lost, all nodes converge")
        func memberKilledDuringChanges() async throws {
            try await withSandbox { sandbox in
                let etcd = try await EtcdCluster.start(in: sandbox, members: 3)
                let nodes = [
                    try await sandbox.startEtcdNode("node0", etcd: etcd),
                    try await sandbox.startEtcdNode("node1", etcd: etcd),
                ]
                _ = try await nodes[0].control { try await $0.putDocument(TestDocuments.denying) }
                let rules = (1...12).map { "198.51.100.\($0)" }
                for (index, rule) in rules.enumerated() {
                    if index == 4 { await etcd.killMember(0) }
                    // A change refused for want of etcd (a leader being elected) changed nothing: again.
                    try await eventually("IP rule \(rule) added", timeout: .seconds(60), every: .milliseconds(200)) {
                        (try? await nodes[index % 2].addIPRule(rule)) != nil
                    }
                }
                let stored = try await etcd.etcdctl(
                    "get",
                    "--print-value-only",
                    "/moat/document",
                    endpoints: Array(etcd.endpoints.dropFirst())
                )
                #expect(stored.status == 0, "\(stored)")
                for rule in rules { #expect(stored.stdout.contains(rule), "\(rule) lost") }
                let final = TestDocuments.hash(Array(stored.stdout.dropLast().utf8))
                for node in nodes { try await node.waitUntilServing(hash: final, timeout: .seconds(60)) }
            }
        }

        @Test("a 100 000-rule document goes through etcd in chunks, and back to a small one")
        func largeDocument() async throws {
            try await withSandbox { sandbox in
                let etcd = try await EtcdCluster.start(in: sandbox)
                let nodes = [
                    try await sandbox.startEtcdNode("node0", etcd: etcd),
                    try await sandbox.startEtcdNode("node1", etcd: etcd),
                ]
                let large = TestDocuments.large(ipRules: 100_000, tag: "fleet")
                #expect(large.count > 1_572_864, "the document must be over etcd's request limit")
                let pushed = try await nodes[0].control(timeout: .seconds(120)) { try await $0.putDocument(large) }
                #expect(pushed.changed)
                for node in nodes {
                    try await node.waitUntilServing(hash: TestDocuments.hash(large), timeout: .seconds(120))
                }
                let manifest = try await etcd.etcdctlChecked("get", "--print-value-only", "/moat/document")
                #expect(manifest.hasPrefix("moat-chunks v1"), "\(manifest.prefix(200))")
                _ = try await nodes[1].control { try await $0.putDocument(TestDocuments.allowing) }
                for node in nodes { try await node.waitUntilServing(hash: TestDocuments.hash(TestDocuments.allowing)) }
                // The large document stays kept for rollback, chunks included.
                let back = try await nodes[0].control(timeout: .seconds(120)) { try await $0.rollback() }
                #expect(back.revision.hash == TestDocuments.hash(large))
                for node in nodes {
                    try await node.waitUntilServing(hash: TestDocuments.hash(large), timeout: .seconds(120))
                }
            }
        }
    }
}
