import Foundation
import MoatClient
import MoatCore
import MoatWire
import NIOCore
import Testing

extension MoatdIntegrationTests {
    /// The fleet's shadow candidate (docs/etcd.md, "A fleet's shadow candidate"): kept in etcd,
    /// judged by every node, reported summed, promoted or dropped through any node.
    @Suite("Fleet shadow candidate")
    struct FleetShadow {
        typealias Shadow = MoatdIntegrationTests.Shadow

        /// The serving document without its second IP rule (198.51.100.0/24).
        static let candidate = TestDocuments.document(
            defaultAction: "Deny",
            ipRules: ["203.0.113.0/24", "192.0.2.0/24"]
        )

        /// Starts `count` nodes on a real etcd holding `Shadow.serving`, each serving it.
        static func fleet(
            _ sandbox: Sandbox,
            count: Int,
            arguments: [String] = []
        ) async throws -> (EtcdCluster, [DaemonProcess]) {
            let etcd = try await EtcdCluster.start(in: sandbox)
            try await etcd.etcdctlChecked("put", "/moat/document", stdin: Shadow.serving)
            var nodes: [DaemonProcess] = []
            for index in 0..<count {
                nodes.append(try await sandbox.startEtcdNode("node\(index)", etcd: etcd, arguments: arguments))
            }
            for node in nodes { try await node.waitUntilServing(hash: TestDocuments.hash(Shadow.serving)) }
            try await eventually("every node registered") {
                try await nodes[0].control { try await $0.fleetStatus() }.nodes.count == count
            }
            return (etcd, nodes)
        }

        /// `fleet`, with `candidate` pushed with --fleet through the first node and judged by every node.
        static func judging(
            _ sandbox: Sandbox,
            count: Int,
            arguments: [String]
        ) async throws -> (EtcdCluster, [DaemonProcess]) {
            let (etcd, nodes) = try await fleet(sandbox, count: count, arguments: arguments)
            _ = try await nodes[0].control { try await $0.shadowPush(candidate, sampleRate: nil, fleet: true) }
            for node in nodes { try await waitUntilJudging(node, TestDocuments.hash(candidate)) }
            return (etcd, nodes)
        }

        /// Puts `document`, pushed on `Shadow.serving`, as the fleet's candidate straight into etcd
        /// (not through a node, so not validated).
        static func putCandidate(_ etcd: EtcdCluster, _ document: [UInt8]) async throws {
            let entry = FleetShadowEntry(
                document: document,
                candidateHash: TestDocuments.hash(document),
                baseHash: TestDocuments.hash(Shadow.serving),
                sampleRate: 1,
                changes: nil,
                putBy: "etcdctl",
                putAtUnixMillis: 0
            )
            var buffer = ByteBuffer()
            try entry.encode(into: &buffer)
            try await etcd.etcdctlChecked("put", "/moat/shadow/candidate", stdin: Array(buffer.readableBytesView))
        }

        /// One node judging `candidate` and a stand-in node, registered without a lease, which
        /// answers only as the test writes (`answer`); --etcd-timeout 60: long enough that a promote
        /// waits for the stand-in, however slow the machine.
        static func withStandIn(_ sandbox: Sandbox) async throws -> (EtcdCluster, [DaemonProcess]) {
            let (etcd, nodes) = try await judging(sandbox, count: 1, arguments: ["--etcd-timeout", "60"])
            try await etcd.etcdctlChecked("put", "/moat/nodes/stand-in", "{\"name\":\"stand-in\"}")
            return (etcd, nodes)
        }

        /// Waits until a promote or report asks the nodes for their reports: the request id.
        static func requestId(_ etcd: EtcdCluster) async throws -> String {
            var requestId = ""
            try await eventually("the nodes to be asked for their reports") {
                requestId = try await etcd.etcdctlChecked("get", "--print-value-only", "/moat/shadow/report-request")
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                return !requestId.isEmpty
            }
            return requestId
        }

        /// Answers `requestId` as the stand-in node `node` (registered by the test with
        /// `etcdctl put /moat/nodes/NODE`), reporting on `candidateHash` with `summary`.
        static func answer(
            _ etcd: EtcdCluster,
            as node: String,
            _ requestId: String,
            candidateHash: String,
            summary: ShadowSummary?
        ) async throws {
            let report = FleetShadowReport(
                node: node,
                candidateHash: candidateHash,
                requestId: requestId,
                report: ShadowReportResponse(summary: summary),
                error: nil
            )
            var buffer = ByteBuffer()
            try report.encode(into: &buffer)
            try await etcd.etcdctlChecked("put", "/moat/shadow/reports/\(node)", stdin: Array(buffer.readableBytesView))
        }

        /// Waits until `node` judges the fleet's candidate `hash`.
        static func waitUntilJudging(_ node: DaemonProcess, _ hash: String) async throws {
            try await eventually("the node to judge the fleet's candidate \(hash)") {
                let shadow = try await node.status().shadow
                return shadow?.fleet == true && shadow?.candidate.hash == hash
            }
        }

        @Test(
            "a candidate pushed with --fleet is judged by every node; the report through another node sums theirs; promote --fleet makes every node serve it"
        )
        func pushReportPromote() async throws {
            try await withSandbox { sandbox in
                let (etcd, nodes) = try await Self.fleet(sandbox, count: 3)
                let servingHash = TestDocuments.hash(Shadow.serving)
                let candidateHash = TestDocuments.hash(Self.candidate)
                let file = sandbox.file("candidate.json")
                try sandbox.write(Self.candidate, to: file)
                let push = try await Shadow.moatctl(sandbox, nodes[0], "shadow", "push", file, "--fleet")
                #expect(push.status == 0, "\(push)")
                #expect(push.stdout.contains("this node judges it"), "\(push)")
                for node in nodes { try await Self.waitUntilJudging(node, candidateHash) }
                // Not served anywhere.
                for node in nodes { #expect(try await node.status().revision?.hash == servingHash) }

                // Alice from the removed rule's prefix on node0 (3) and node1 (2): one group of 5
                // once merged; from the first rule's prefix on node0 (2, no change); from the third
                // rule's on node2 (4, the same rule by value); bob admitted by the removed rule on
                // node2 (1 reason change).
                let alice = TestDocuments.alice
                _ = try await Shadow.send(
                    nodes[0],
                    Array(repeating: Shadow.check(alice, from: "198.51.100.7"), count: 3)
                        + Array(repeating: Shadow.check(alice, from: "203.0.113.9"), count: 2)
                )
                _ = try await Shadow.send(
                    nodes[1],
                    Array(repeating: Shadow.check(alice, from: "198.51.100.9"), count: 2)
                )
                _ = try await Shadow.send(
                    nodes[2],
                    Array(repeating: Shadow.check(alice, from: "192.0.2.5"), count: 4)
                        + [Shadow.check(Shadow.bob, from: "198.51.100.8")]
                )

                let report = try await nodes[1].control { try await $0.shadowReport(fleet: true) }
                let summary = try #require(report.summary)
                #expect(summary.fleet)
                #expect(summary.candidate.hash == candidateHash && summary.base.hash == servingHash)
                #expect(summary.compared == 12)
                #expect(summary.allowToDeny == 5 && summary.denyToAllow == 0)
                #expect(summary.reasonChanged == 1)
                #expect(report.missingNodes.isEmpty)
                #expect(report.nodes.map(\.name) == ["node0", "node1", "node2"])
                #expect(report.nodes.map(\.compared) == [5, 2, 5])
                #expect(report.nodes.map(\.allowToDeny) == [3, 2, 0])
                #expect(report.nodes.map(\.reasonChanged) == [0, 0, 1])
                #expect(report.nodes.allSatisfy { $0.error == nil && $0.candidate == candidateHash })
                // The same group on two nodes, counted once with the sum.
                #expect(report.groups.count == 2, "\(report.groups)")
                let flip = try #require(report.groups.first { $0.change == .allowToDeny }, "\(report.groups)")
                #expect(flip.count == 5 && flip.sourcePrefix == "198.51.100.0/24" && flip.caller == alice)
                #expect(flip.serving.hasPrefix("allowed by IP rule 1 (198.51.100.0/24)"), "\(flip.serving)")
                #expect(flip.candidate == "denied ForbiddenByFirewall")
                #expect(report.otherFlips == 0 && report.otherReasonChanged == 0)

                let printed = try await Shadow.moatctl(sandbox, nodes[2], "shadow", "report", "--fleet")
                #expect(printed.status == 0, "\(printed)")
                #expect(
                    printed.stdout.contains("12 compared, 5 allow→deny, 0 deny→allow, 1 reason changes"),
                    "\(printed)"
                )
                #expect(printed.stdout.contains("node node0: 5 compared, 3 allow→deny"), "\(printed)")
                #expect(printed.stdout.contains("node node1: 2 compared, 2 allow→deny"), "\(printed)")
                #expect(printed.stdout.contains("allow→deny ×5"), "\(printed)")
                let json = try await Shadow.moatctl(sandbox, nodes[2], "shadow", "report", "--fleet", "--json")
                let parsed = try JSONValue(parsing: Array(json.stdout.utf8))
                #expect(parsed["nodes"]?.arrayValue?.count == 3, "\(json)")
                #expect(parsed["shadow"]?["fleet"] == .bool(true), "\(json)")

                // --if-no-flips refuses: nothing changed.
                let refused = try await Shadow.moatctl(
                    sandbox,
                    nodes[2],
                    "shadow",
                    "promote",
                    "--fleet",
                    "--if-no-flips"
                )
                #expect(refused.status == 1, "\(refused)")
                #expect(refused.stderr.contains("on 3 nodes, flips 5 of 12 checks compared"), "\(refused)")
                #expect(
                    TestDocuments.hash(
                        Array(
                            try await etcd.etcdctlChecked("get", "--print-value-only", "/moat/document").dropLast().utf8
                        )
                    ) == servingHash
                )
                for node in nodes { #expect(try await node.status().shadow?.fleet == true) }

                // Without --fleet, a node's promote, drop or change would act on the fleet's
                // candidate for that node alone: refused, nothing changed.
                let verbs = [
                    ["shadow", "promote"], ["shadow", "drop"],
                    ["network-rule", "add", "--vault", TestDocuments.vault, "--ip-address", "52.9.0.0/16", "--shadow"],
                ]
                for verb in verbs {
                    let local = try await sandbox.run(moatctlPath, verb + ["--control-socket", nodes[1].controlSocket])
                    #expect(local.status == 1, "\(local)")
                    #expect(
                        local.stderr.contains(
                            "the loaded shadow candidate \(candidateHash) is the fleet's: use --fleet"
                        ),
                        "\(local)"
                    )
                    let shadow = try await nodes[1].status().shadow
                    #expect(shadow?.fleet == true && shadow?.candidate.hash == candidateHash && shadow?.compared == 2)
                }
                #expect(try await nodes[1].status().revision?.hash == servingHash)

                let promote = try await Shadow.moatctl(
                    sandbox,
                    nodes[2],
                    "shadow",
                    "promote",
                    "--fleet",
                    "--max-flips",
                    "5"
                )
                #expect(promote.status == 0, "\(promote)")
                for node in nodes { try await node.waitUntilServing(hash: candidateHash) }
                try await eventually("no node has a candidate") {
                    for node in nodes where try await node.status().shadow != nil { return false }
                    return true
                }
                #expect(try await etcd.etcdctlChecked("get", "--keys-only", "/moat/shadow/candidate").isEmpty)
                let fleet = try await nodes[0].control { try await $0.fleetStatus() }
                #expect(fleet.documentHash == candidateHash)
            }
        }

        @Test(
            "a node that does not answer is named missing and refuses the promote; once its lease is gone it is no longer expected"
        )
        func killedNode() async throws {
            try await withSandbox { sandbox in
                let (etcd, nodes) = try await Self.judging(sandbox, count: 3, arguments: ["--etcd-timeout", "2"])
                _ = try await Shadow.send(nodes[0], [Shadow.check(TestDocuments.alice, from: "198.51.100.7")])
                await nodes[2].killHard()

                // Its entry lives on for 7 to 10 s (the lease's 10 s, renewed every 3 s): it is
                // waited for, up to --etcd-timeout, by the two calls made within that time.
                let refused = try await Shadow.moatctl(sandbox, nodes[0], "shadow", "promote", "--fleet")
                #expect(refused.status == 1, "\(refused)")
                #expect(refused.stderr.contains("node node2 did not report"), "\(refused)")
                #expect(
                    try await etcd.etcdctlChecked("get", "--keys-only", "/moat/shadow/candidate").contains(
                        "/moat/shadow/candidate"
                    )
                )
                let printed = try await Shadow.moatctl(sandbox, nodes[1], "shadow", "report", "--fleet")
                #expect(printed.status == 0, "\(printed)")
                for line in [
                    "1 compared, 1 allow→deny", "node node0: 1 compared, 1 allow→deny", "node node1: 0 compared",
                    "missing (did not answer within --etcd-timeout, not summed): node2",
                ] {
                    #expect(printed.stdout.contains(line), "\(printed)")
                }
                #expect(!printed.stdout.contains("node node2:"), "\(printed)")

                try await eventually("the dead node's lease to expire", timeout: .seconds(30)) {
                    try await nodes[0].control { try await $0.fleetStatus() }.nodes.count == 2
                }
                let later = try await nodes[1].control { try await $0.shadowReport(fleet: true) }
                #expect(later.missingNodes.isEmpty && later.nodes.count == 2)
                let drop = try await Shadow.moatctl(sandbox, nodes[1], "shadow", "drop", "--fleet")
                #expect(drop.status == 0, "\(drop)")
                for node in nodes.prefix(2) {
                    try await eventually("the node to drop the candidate") { try await node.status().shadow == nil }
                }
                // The candidate, the reports and the request are gone from etcd.
                #expect(try await etcd.etcdctlChecked("get", "--keys-only", "--prefix", "/moat/shadow/").isEmpty)
            }
        }

        @Test(
            "--shadow --fleet on a change verb builds the fleet's candidate change by change; a node started later loads it"
        )
        func verbsAndLateNode() async throws {
            try await withSandbox { sandbox in
                let (etcd, nodes) = try await Self.fleet(sandbox, count: 2)
                let remove = try await sandbox.run(
                    moatctlPath,
                    [
                        "network-rule", "remove", "--vault", TestDocuments.vault, "--ip-address", "198.51.100.0/24",
                        "--shadow", "--fleet", "--control-socket", nodes[0].controlSocket,
                    ]
                )
                #expect(remove.status == 0, "\(remove)")
                let add = try await sandbox.run(
                    moatctlPath,
                    [
                        "network-rule", "add", "--vault", TestDocuments.vault, "--ip-address", "52.1.0.0/16",
                        "--shadow", "--fleet", "--control-socket", nodes[1].controlSocket,
                    ]
                )
                #expect(add.status == 0, "\(add)")
                let changes = [
                    "removed IP rule 198.51.100.0/24 from \(TestDocuments.vault)",
                    "added IP rule 52.1.0.0/16 to \(TestDocuments.vault)",
                ]
                for node in nodes {
                    try await eventually("the node to judge both changes") {
                        try await node.status().shadow?.changes == changes
                    }
                }
                let late = try await sandbox.startEtcdNode("node2", etcd: etcd)
                try await eventually("the late node to judge the fleet's candidate") {
                    let shadow = try await late.status().shadow
                    return shadow?.fleet == true && shadow?.changes == changes
                }
                let candidate = try #require(try await nodes[0].status().shadow?.candidate.hash)
                #expect(try await late.status().shadow?.candidate.hash == candidate)
                let flagless = try await sandbox.run(
                    moatctlPath,
                    [
                        "network-rule", "add", "--vault", TestDocuments.vault, "--ip-address", "52.2.0.0/16", "--fleet",
                        "--control-socket", nodes[1].controlSocket,
                    ]
                )
                #expect(flagless.status != 0 && flagless.stderr.contains("--fleet goes with --shadow"), "\(flagless)")

                // etcd's document changes: every node rebases the candidate; promote replays its
                // changes on etcd's current document.
                let serving = try await nodes[0].addIPRule("52.3.0.0/16")
                #expect(serving.changed)
                for node in [nodes[0], nodes[1], late] {
                    try await eventually("the node to rebase the candidate") {
                        try await node.status().shadow?.base.hash == serving.revision.hash
                    }
                }
                let promote = try await Shadow.moatctl(sandbox, nodes[1], "shadow", "promote", "--fleet")
                #expect(promote.status == 0, "\(promote)")
                let stored = try await etcd.etcdctlChecked("get", "--print-value-only", "/moat/document")
                #expect(stored.contains("52.3.0.0/16") && stored.contains("52.1.0.0/16"), "\(stored)")
                #expect(!stored.contains("198.51.100.0/24"), "\(stored)")
                let promoted = TestDocuments.hash(Array(stored.dropLast().utf8))
                for node in [nodes[0], nodes[1], late] { try await node.waitUntilServing(hash: promoted) }
            }
        }

        @Test("changes made at once through two nodes on the fleet's candidate are all kept")
        func concurrentChanges() async throws {
            try await withSandbox { sandbox in
                let (_, nodes) = try await Self.fleet(sandbox, count: 2)
                let rules = (1...6).map { "52.10.\($0).0/24" }
                try await withThrowingTaskGroup(of: ChangeResponse.self) { group in
                    for (index, rule) in rules.enumerated() {
                        group.addTask {
                            try await nodes[index % 2].control {
                                try await $0.shadowApply(
                                    .addIpRule(vault: TestDocuments.vault, value: rule),
                                    fleet: true
                                )
                            }
                        }
                    }
                    for try await response in group { #expect(response.changed) }
                }
                // Each change was answered once its own node judged it: node0 may be a write behind.
                try await eventually("node0 to judge every change") {
                    try await nodes[0].status().shadow?.changes.count ?? 0 >= rules.count
                }
                let shadow = try #require(try await nodes[0].status().shadow)
                #expect(shadow.fleet)
                #expect(Set(shadow.changes) == Set(rules.map { "added IP rule \($0) to \(TestDocuments.vault)" }))
                #expect(shadow.changes.count == rules.count)
            }
        }

        @Test(
            "promote --fleet refuses, nothing changed, when a new candidate is put after the nodes reported and before the commit"
        )
        func promoteRacingNewCandidate() async throws {
            try await withSandbox { sandbox in
                // The promote waits for the stand-in's report, which the test writes only once it
                // has put a new candidate, as another moatctl could.
                let (etcd, nodes) = try await Self.withStandIn(sandbox)
                let servingHash = TestDocuments.hash(Shadow.serving)
                let candidateHash = TestDocuments.hash(Self.candidate)
                let promote = Task { try await Shadow.moatctl(sandbox, nodes[0], "shadow", "promote", "--fleet") }
                let requestId = try await Self.requestId(etcd)
                let newer = TestDocuments.document(defaultAction: "Deny", ipRules: ["203.0.113.0/24"])
                let newerHash = TestDocuments.hash(newer)
                try await Self.putCandidate(etcd, newer)
                try await Self.answer(
                    etcd,
                    as: "stand-in",
                    requestId,
                    candidateHash: candidateHash,
                    summary: ShadowSummary(
                        candidate: Revision(sequence: 0, hash: candidateHash),
                        base: Revision(sequence: 0, hash: servingHash)
                    )
                )

                let refused = try await promote.value
                #expect(refused.status == 1, "\(refused)")
                #expect(
                    refused.stderr.contains(
                        "the fleet's shadow candidate \(candidateHash) was not promoted: a new candidate \(newerHash) (put by etcdctl"
                    ),
                    "\(refused)"
                )
                #expect(refused.stderr.contains("nothing was changed"), "\(refused)")
                let stored = try await etcd.etcdctlChecked("get", "--print-value-only", "/moat/document")
                #expect(TestDocuments.hash(Array(stored.dropLast().utf8)) == servingHash)
                // The newer candidate is kept (etcdctl -w json: the value in base64).
                let kept = try JSONValue(
                    parsing: Array(try await etcd.etcdctlChecked("get", "-w", "json", "/moat/shadow/candidate").utf8)
                )
                let value = try #require(kept["kvs"]?.arrayValue?.first?["value"]?.stringValue, "\(kept)")
                let keptEntry = try FleetShadowEntry(
                    wirePayload: ByteBuffer(bytes: try #require(Data(base64Encoded: value)))
                )
                #expect(keptEntry.candidateHash == newerHash)
                #expect(try await nodes[0].status().revision?.hash == servingHash)
                try await Self.waitUntilJudging(nodes[0], newerHash)
            }
        }

        @Test(
            "promote --fleet refuses, nothing changed, when a node answers judging no candidate or another one, or when this node is not registered"
        )
        func promoteNeedsEveryNodeJudging() async throws {
            try await withSandbox { sandbox in
                let (etcd, nodes) = try await Self.withStandIn(sandbox)
                let servingHash = TestDocuments.hash(Shadow.serving)
                let candidateHash = TestDocuments.hash(Self.candidate)
                for (answered, why) in [
                    ((candidateHash, nil as ShadowSummary?), "stand-in (it judges no candidate)"),
                    (
                        (
                            "0123456789abcdef",
                            ShadowSummary(
                                candidate: Revision(sequence: 0, hash: "0123456789abcdef"),
                                base: Revision(sequence: 0, hash: servingHash)
                            )
                        ),
                        "stand-in (it reported on candidate 0123456789abcdef instead)"
                    ),
                ] {
                    try await etcd.etcdctlChecked("del", "/moat/shadow/report-request")
                    let promote = Task { try await Shadow.moatctl(sandbox, nodes[0], "shadow", "promote", "--fleet") }
                    let requestId = try await Self.requestId(etcd)
                    try await Self.answer(
                        etcd,
                        as: "stand-in",
                        requestId,
                        candidateHash: answered.0,
                        summary: answered.1
                    )
                    let refused = try await promote.value
                    #expect(refused.status == 1, "\(refused)")
                    #expect(refused.stderr.contains("is not judged by \(why)"), "\(refused)")
                    let stored = try await etcd.etcdctlChecked("get", "--print-value-only", "/moat/document")
                    #expect(TestDocuments.hash(Array(stored.dropLast().utf8)) == servingHash)
                }

                // No node registered (the node's entry gone, not put again while it is unchanged).
                try await etcd.etcdctlChecked("del", "--prefix", "/moat/nodes/")
                let alone = try await Shadow.moatctl(sandbox, nodes[0], "shadow", "promote", "--fleet")
                #expect(alone.status == 1, "\(alone)")
                #expect(
                    alone.stderr.contains("this node (node0) did not report on the fleet's shadow candidate"),
                    "\(alone)"
                )
                let stored = try await etcd.etcdctlChecked("get", "--print-value-only", "/moat/document")
                #expect(TestDocuments.hash(Array(stored.dropLast().utf8)) == servingHash)
                #expect(try await nodes[0].status().shadow?.candidate.hash == candidateHash)
            }
        }

        @Test(
            "a node that no longer judges the fleet's candidate reports why: none loaded once it serves it, or a node-local one"
        )
        func reportsWhyNotJudging() async throws {
            try await withSandbox { sandbox in
                let (etcd, nodes) = try await Self.judging(sandbox, count: 1, arguments: [])
                // etcd's document becomes the candidate's (not through a promote): the node drops
                // its candidate, which stays in etcd.
                try await etcd.etcdctlChecked("put", "/moat/document", stdin: Self.candidate)
                try await nodes[0].waitUntilServing(hash: TestDocuments.hash(Self.candidate))
                try await eventually("the node to drop the candidate it serves") {
                    try await nodes[0].status().shadow == nil
                }
                let none = try await nodes[0].control { try await $0.shadowReport(fleet: true) }
                #expect(
                    none.nodes.first?.error?.contains("no candidate is loaded on this node") == true,
                    "\(none.nodes)"
                )

                let local = TestDocuments.document(defaultAction: "Deny", ipRules: ["203.0.113.0/24"])
                _ = try await nodes[0].control { try await $0.shadowPush(local, sampleRate: nil, fleet: false) }
                _ = try await Shadow.send(nodes[0], [Shadow.check(TestDocuments.alice, from: "198.51.100.7")])
                let replaced = try await nodes[0].control { try await $0.shadowReport(fleet: true) }
                #expect(
                    replaced.nodes.first?.error?.contains(
                        "this node judges a node-local candidate \(TestDocuments.hash(local)) instead"
                    ) == true,
                    "\(replaced.nodes)"
                )
                // The node-local candidate judged the check; the fleet's sum leaves it out.
                let judgedLocally = try await nodes[0].control { try await $0.shadowReport() }
                #expect(judgedLocally.summary?.compared == 1)
                #expect(replaced.summary?.compared == 0)
            }
        }

        @Test(
            "a candidate over 512 KiB goes into etcd in chunks, which garbage collection keeps while it is the candidate"
        )
        func chunkedCandidate() async throws {
            try await withSandbox { sandbox in
                let (etcd, nodes) = try await Self.fleet(sandbox, count: 2)
                let large = TestDocuments.large(ipRules: 25_000, tag: "fleet-candidate")
                #expect(large.count > 512 * 1024)
                _ = try await nodes[0].control { try await $0.shadowPush(large, sampleRate: nil, fleet: true) }
                for node in nodes { try await Self.waitUntilJudging(node, TestDocuments.hash(large)) }
                let chunks = try await etcd.etcdctlChecked("get", "--keys-only", "--prefix", "/moat/chunks/")
                #expect(chunks.split(separator: "\n").count == 2, "\(chunks)")
                // A serving change collects the chunks no kept document names, in one transaction,
                // after it is answered: a chunk nothing names, gone, shows the collection ran; the
                // candidate's stay.
                try await etcd.etcdctlChecked("put", "/moat/chunks/0000000000000000", "named by nothing")
                #expect(try await nodes[1].addIPRule("52.4.0.0/16").changed)
                try await eventually("the collection to delete the chunk nothing names") {
                    try await etcd.etcdctlChecked("get", "--keys-only", "/moat/chunks/0000000000000000").isEmpty
                }
                #expect(try await etcd.etcdctlChecked("get", "--keys-only", "--prefix", "/moat/chunks/") == chunks)
                let late = try await sandbox.startEtcdNode("node2", etcd: etcd)
                try await Self.waitUntilJudging(late, TestDocuments.hash(large))
            }
        }

        @Test(
            "bad input: --fleet without etcd, an invalid candidate, a candidate in etcd that does not validate, promoting a pushed candidate whose base changed"
        )
        func badInput() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(Shadow.serving, to: sandbox.rulesPath)
                let plain = try await sandbox.startDaemon(arguments: TestDocuments.asserterArguments)
                let file = sandbox.file("candidate.json")
                try sandbox.write(Self.candidate, to: file)
                for arguments in [["push", file], ["report"], ["promote"], ["drop"]] {
                    let refused = try await sandbox.run(
                        moatctlPath,
                        ["shadow"] + arguments + ["--fleet", "--control-socket", plain.controlSocket]
                    )
                    #expect(refused.status == 1, "\(refused)")
                    #expect(refused.stderr.contains("--fleet needs the etcd rules source"), "\(refused)")
                }
                #expect(try await plain.status().shadow == nil)
                await plain.stop()

                let (etcd, nodes) = try await Self.fleet(sandbox, count: 2)
                let invalid = sandbox.file("invalid.json")
                try sandbox.write(TestDocuments.invalid, to: invalid)
                let refused = try await Shadow.moatctl(sandbox, nodes[0], "shadow", "push", invalid, "--fleet")
                #expect(refused.status == 1, "\(refused)")
                #expect(refused.stderr.contains("invalid"), "\(refused)")
                #expect(try await etcd.etcdctlChecked("get", "--keys-only", "--prefix", "/moat/shadow/").isEmpty)

                // Written straight into etcd over a valid one every node judges: every node drops
                // the valid one, reports why it cannot load the new one, and serves on.
                _ = try await nodes[0].control { try await $0.shadowPush(Self.candidate, sampleRate: nil, fleet: true) }
                for node in nodes { try await Self.waitUntilJudging(node, TestDocuments.hash(Self.candidate)) }
                try await Self.putCandidate(etcd, TestDocuments.invalid)
                for node in nodes {
                    try await eventually("the node to drop the candidate it judged") {
                        try await node.status().shadow == nil
                    }
                    _ = try await Shadow.send(node, [Shadow.check(TestDocuments.alice, from: "198.51.100.7")])
                }
                let report = try await nodes[1].control { try await $0.shadowReport(fleet: true) }
                #expect(report.nodes.count == 2 && report.missingNodes.isEmpty, "\(report)")
                #expect(
                    report.nodes.allSatisfy { ($0.error ?? "").contains("the document is invalid") },
                    "\(report.nodes)"
                )
                #expect(report.summary?.compared == 0)
                let promote = try await Shadow.moatctl(sandbox, nodes[0], "shadow", "promote", "--fleet")
                #expect(promote.status == 1 && promote.stderr.contains("is not judged by node0"), "\(promote)")
                for node in nodes {
                    #expect(node.isRunning)
                    let status = try await node.status()
                    #expect(status.revision?.hash == TestDocuments.hash(Shadow.serving) && status.shadow == nil)
                }

                // A pushed candidate whose base is no longer etcd's document is not promoted.
                let push = try await Shadow.moatctl(sandbox, nodes[0], "shadow", "push", file, "--fleet")
                #expect(push.status == 0, "\(push)")
                let changed = try await nodes[1].addIPRule("52.5.0.0/16")
                let outdated = try await Shadow.moatctl(sandbox, nodes[1], "shadow", "promote", "--fleet")
                #expect(outdated.status == 1 && outdated.stderr.contains("push the candidate again"), "\(outdated)")
                let stored = try await etcd.etcdctlChecked("get", "--print-value-only", "/moat/document")
                #expect(TestDocuments.hash(Array(stored.dropLast().utf8)) == changed.revision.hash)
            }
        }
    }
}
