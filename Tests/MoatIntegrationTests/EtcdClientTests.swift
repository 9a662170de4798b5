import Foundation
import MoatEtcd
import MoatWire
import Synchronization
import Testing

/// Runs `body` with a client of `configuration` running, and stops it after.
func withEtcdClient<T: Sendable>(
    _ configuration: EtcdConfiguration,
    _ body: (EtcdClient) async throws -> T
) async throws -> T {
    let client = try EtcdClient(configuration)
    async let running: Void = client.run()
    do {
        let result = try await body(client)
        client.shutdown()
        try await running
        return result
    } catch {
        client.shutdown()
        try? await running
        throw error
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// What an escaping callback saw, read by the test.
final class Recorded<Item: Sendable>: Sendable {
    private let items = Mutex<[Item]>([])

    func append(_ item: Item) { items.withLock { $0.append(item) } }
    var all: [Item] { items.withLock { $0 } }
}

extension MoatdIntegrationTests {
    /// The etcd client (docs/etcd.md, "The client") against a real etcd.
    @Suite("etcd client")
    struct EtcdClientTests {
        @Test("endpoints that are not one are refused, naming what is wrong")
        func configurationRefusals() throws {
            let refusals: [(endpoints: [String], tls: EtcdConfiguration.TLS?, says: String)] = [
                ([], nil, "no etcd endpoint"),
                (["localhost"], nil, "'localhost' has no port"),
                (["ftp://h:1"], nil, "scheme other than http or https"),
                (["http://h:0"], nil, "no valid port"),
                (["http://:2379"], nil, "has no host"),
                (["https://h:2379"], nil, "is https, but no TLS option"),
                (["http://h:2379"], .init(caFile: "/ca.pem", certificateFile: nil, keyFile: nil), "is http, but TLS"),
                (["h:2379"], .init(caFile: nil, certificateFile: "/c.pem", keyFile: nil), "needs its key"),
            ]
            for refusal in refusals {
                do {
                    _ = try EtcdConfiguration(endpoints: refusal.endpoints, tls: refusal.tls)
                    Issue.record("\(refusal.endpoints) was accepted")
                } catch {
                    #expect(error.kind == .invalidConfiguration)
                    #expect(error.message.contains(refusal.says), "\(error.message)")
                }
            }
            let parsed = try EtcdConfiguration(
                endpoints: ["127.0.0.1:2379", "https://[::1]:2380/"],
                tls: .init(caFile: "/ca.pem", certificateFile: nil, keyFile: nil)
            )
            #expect(parsed.endpoints.map(\.description) == ["https://127.0.0.1:2379", "https://[::1]:2380"])
        }

        @Test("put, range and transactions that compare revisions and values")
        func keyValueAndCompareAndSwap() async throws {
            try await withSandbox { sandbox in
                let etcd = try await EtcdCluster.start(in: sandbox)
                try await withEtcdClient(try EtcdConfiguration(endpoints: etcd.endpoints)) { client in
                    let written = try await client.put(EtcdPutRequest(key: bytes("/t/a"), value: bytes("one")))
                    let read = try await client.range(EtcdRangeRequest(key: bytes("/t/a")))
                    #expect(read.kvs.map(\.value) == [bytes("one")])
                    #expect(read.kvs.first?.modRevision == written.revision)
                    #expect(read.revision == written.revision)

                    // Compare-and-swap on the revision read: the first wins, the second sees the change.
                    let swap = EtcdTxnRequest(
                        compare: [EtcdCompare(key: bytes("/t/a"), .modRevision(written.revision))],
                        success: [.put(EtcdPutRequest(key: bytes("/t/a"), value: bytes("two")))],
                        failure: [.range(EtcdRangeRequest(key: bytes("/t/a")))]
                    )
                    let first = try await client.txn(swap)
                    #expect(first.succeeded)
                    #expect(first.revision > written.revision)
                    let second = try await client.txn(swap)
                    #expect(!second.succeeded)
                    #expect(second.ranges.first?.kvs.map(\.value) == [bytes("two")])

                    // Create only when absent (create revision 0); compare on a value.
                    let create = EtcdTxnRequest(
                        compare: [EtcdCompare(key: bytes("/t/b"), .createRevision(0))],
                        success: [.put(EtcdPutRequest(key: bytes("/t/b"), value: []))]
                    )
                    #expect(try await client.txn(create).succeeded)
                    #expect(try await !client.txn(create).succeeded)
                    let byValue = EtcdTxnRequest(
                        compare: [EtcdCompare(key: bytes("/t/b"), .value([]))],
                        success: [
                            .delete(EtcdDeleteRequest(key: bytes("/t/"), rangeEnd: EtcdKeys.prefixEnd(bytes("/t/"))))
                        ]
                    )
                    #expect(try await client.txn(byValue).succeeded)
                    let prefix = try await client.range(
                        EtcdRangeRequest(key: bytes("/t/"), rangeEnd: EtcdKeys.prefixEnd(bytes("/t/")))
                    )
                    #expect(prefix.kvs.isEmpty)
                }
            }
        }

        @Test("a watch delivers the events after its start revision in order, and progress notifications")
        func watchEventsAndProgress() async throws {
            try await withSandbox { sandbox in
                let etcd = try await EtcdCluster.start(in: sandbox)
                try await withEtcdClient(try EtcdConfiguration(endpoints: etcd.endpoints)) { client in
                    let start = try await client.put(EtcdPutRequest(key: bytes("/w/before"), value: bytes("0")))
                    let seen = Recorded<EtcdWatchResponse>()
                    let watching = Task {
                        try await client.watch(
                            key: bytes("/w/"),
                            rangeEnd: EtcdKeys.prefixEnd(bytes("/w/")),
                            from: start.revision + 1,
                            progressInterval: .milliseconds(200)
                        ) { response in seen.append(response) }
                    }
                    defer { watching.cancel() }
                    try await etcd.etcdctlChecked("put", "/w/x", "1")
                    try await etcd.etcdctlChecked("del", "/w/x")
                    try await etcd.etcdctlChecked("put", "/elsewhere", "2")
                    try await eventually("two events and a progress notification after them") {
                        let responses = seen.all
                        let events = responses.flatMap(\.events)
                        guard events.count == 2, let last = events.last?.kv.modRevision else { return false }
                        return responses.contains { $0.events.isEmpty && !$0.created && $0.revision > last }
                    }
                    let events = seen.all.flatMap(\.events)
                    #expect(events.map(\.kind) == [.put, .delete])
                    #expect(events.map(\.kv.key) == [bytes("/w/x"), bytes("/w/x")])
                    #expect(events.first?.kv.value == bytes("1"))
                    #expect(events[0].kv.modRevision < events[1].kv.modRevision)
                    #expect(events[0].kv.modRevision > start.revision)
                }
            }
        }

        @Test("a watch from a compacted revision fails with the compaction revision")
        func watchFromCompactedRevision() async throws {
            try await withSandbox { sandbox in
                let etcd = try await EtcdCluster.start(in: sandbox)
                try await withEtcdClient(try EtcdConfiguration(endpoints: etcd.endpoints)) { client in
                    for index in 0..<3 {
                        _ = try await client.put(EtcdPutRequest(key: bytes("/c/k"), value: bytes("\(index)")))
                    }
                    let last = try await client.range(EtcdRangeRequest(key: bytes("/c/k"))).revision
                    try await etcd.etcdctlChecked("compact", "\(last)")
                    do throws(EtcdError) {
                        try await client.watch(
                            key: bytes("/c/"),
                            rangeEnd: EtcdKeys.prefixEnd(bytes("/c/")),
                            from: 2,
                            progressInterval: .seconds(1)
                        ) { _ in }
                        Issue.record("the watch of a compacted revision did not fail")
                    } catch {
                        #expect(error.kind == .compacted(last), "\(error)")
                    }
                }
            }
        }

        @Test("a kept-alive lease keeps its key; revoking it deletes the key and ends the keep-alive")
        func leases() async throws {
            try await withSandbox { sandbox in
                let etcd = try await EtcdCluster.start(in: sandbox)
                try await withEtcdClient(try EtcdConfiguration(endpoints: etcd.endpoints)) { client in
                    let lease = try await client.grantLease(ttl: 2)
                    #expect(lease.ttl >= 2)
                    _ = try await client.put(EtcdPutRequest(key: bytes("/l/node"), value: bytes("up"), lease: lease.id))
                    let keeping = Task { try await client.keepAlive(lease: lease.id, every: .milliseconds(300)) }
                    // Three TTLs: without the keep-alive the key would be gone.
                    try await Task.sleep(for: .seconds(3 * lease.ttl))
                    #expect(try await client.range(EtcdRangeRequest(key: bytes("/l/node"))).kvs.count == 1)
                    try await client.revokeLease(lease.id)
                    #expect(try await client.range(EtcdRangeRequest(key: bytes("/l/node"))).kvs.isEmpty)
                    switch await keeping.result {
                    case .success: Issue.record("the keep-alive of a revoked lease returned")
                    case .failure(let error): #expect((error as? EtcdError)?.kind == .leaseExpired, "\(error)")
                    }
                }
            }
        }

        @Test("calls go to the next endpoint when one does not answer")
        func failover() async throws {
            try await withSandbox { sandbox in
                let etcd = try await EtcdCluster.start(in: sandbox)
                let dead = try freeLoopbackPorts(1)[0]
                let configuration = try EtcdConfiguration(endpoints: ["http://127.0.0.1:\(dead)"] + etcd.endpoints)
                try await withEtcdClient(configuration) { client in
                    _ = try await client.put(EtcdPutRequest(key: bytes("/f/k"), value: bytes("v")))
                    #expect(try await client.range(EtcdRangeRequest(key: bytes("/f/k"))).kvs.count == 1)
                }
                let allDead = try EtcdConfiguration(endpoints: ["http://127.0.0.1:\(dead)"], timeout: .seconds(1))
                try await withEtcdClient(allDead) { client in
                    do throws(EtcdError) {
                        _ = try await client.range(EtcdRangeRequest(key: bytes("/f/k")))
                        Issue.record("a call to a dead endpoint succeeded")
                    } catch {
                        #expect(error.kind == .unavailable)
                        #expect(error.message.contains("127.0.0.1:\(dead)"), "\(error.message)")
                    }
                }
            }
        }

        @Test("hundreds of calls in a row on one member are all answered, and a watch open meanwhile is not cut")
        func streamOfCalls() async throws {
            try await withSandbox { sandbox in
                let etcd = try await EtcdCluster.start(in: sandbox)
                try await withEtcdClient(try EtcdConfiguration(endpoints: etcd.endpoints)) { client in
                    let written = try await client.put(EtcdPutRequest(key: bytes("/s/k"), value: bytes("v")))
                    // A watch open meanwhile: it fails when its connection is closed under it.
                    let watchFailures = Recorded<String>()
                    let watching = Task {
                        do {
                            try await client.watch(
                                key: bytes("/s/"),
                                rangeEnd: EtcdKeys.prefixEnd(bytes("/s/")),
                                from: written.revision + 1,
                                progressInterval: .seconds(1)
                            ) { _ in }
                        } catch {
                            if !Task.isCancelled { watchFailures.append("\(error)") }
                        }
                    }
                    // More calls than etcd's flow-control PINGs (about one per request) may number
                    // on one connection within 30 s before swift-nio-http2's flood guard closes it.
                    for index in 0..<500 {
                        do throws(EtcdError) {
                            _ = try await client.range(EtcdRangeRequest(key: bytes("/s/k")))
                        } catch {
                            Issue.record("call \(index) failed: \(error)")
                            break
                        }
                    }
                    watching.cancel()
                    await watching.value
                    #expect(watchFailures.all.isEmpty, "\(watchFailures.all)")
                }
            }
        }

        @Test("a call waits for a restarting member within its timeout; past it, it fails naming the endpoints")
        func waitsForARestartingMember() async throws {
            try await withSandbox { sandbox in
                let etcd = try await EtcdCluster.start(in: sandbox)
                let patient = try EtcdConfiguration(endpoints: etcd.endpoints, timeout: .seconds(120))
                try await withEtcdClient(patient) { client in
                    _ = try await client.put(EtcdPutRequest(key: bytes("/r/k"), value: bytes("before")))
                    await etcd.stopMember(0)
                    let put = Task {
                        try await client.put(EtcdPutRequest(key: bytes("/r/k"), value: bytes("after")))
                    }
                    // The put is sent to a member that is down, then etcd comes back.
                    try await Task.sleep(for: .milliseconds(500))
                    try etcd.startMember(0)
                    _ = try await put.value
                    #expect(try await etcd.etcdctlChecked("get", "--print-value-only", "/r/k") == "after\n")
                }
                await etcd.stopMember(0)
                let impatient = try EtcdConfiguration(endpoints: etcd.endpoints, timeout: .seconds(1))
                try await withEtcdClient(impatient) { client in
                    do throws(EtcdError) {
                        _ = try await client.range(EtcdRangeRequest(key: bytes("/r/k")))
                        Issue.record("a call to a stopped etcd succeeded")
                    } catch {
                        #expect(error.kind == .unavailable)
                        #expect(error.message.contains(etcd.endpoints[0]), "\(error.message)")
                        #expect(error.message.contains("answered Range within"), "\(error.message)")
                    }
                }
            }
        }

        @Test("over TLS with a client certificate; without the certificate etcd refuses the connection")
        func tls() async throws {
            try await withSandbox { sandbox in
                let files = try await sandbox.makeEtcdTLSFiles()
                let etcd = try await EtcdCluster.start(in: sandbox, tls: files)
                let withCertificate = try EtcdConfiguration(
                    endpoints: etcd.endpoints,
                    tls: .init(caFile: files.ca, certificateFile: files.clientCertificate, keyFile: files.clientKey)
                )
                try await withEtcdClient(withCertificate) { client in
                    _ = try await client.put(EtcdPutRequest(key: bytes("/tls/k"), value: bytes("v")))
                    #expect(try await client.range(EtcdRangeRequest(key: bytes("/tls/k"))).kvs.count == 1)
                }
                let without = try EtcdConfiguration(
                    endpoints: etcd.endpoints,
                    tls: .init(caFile: files.ca, certificateFile: nil, keyFile: nil),
                    timeout: .seconds(1)
                )
                try await withEtcdClient(without) { client in
                    do throws(EtcdError) {
                        _ = try await client.range(EtcdRangeRequest(key: bytes("/tls/k")))
                        Issue.record("a call without a client certificate succeeded")
                    } catch {
                        #expect(error.kind == .unavailable, "\(error)")
                    }
                }
            }
        }

        @Test("with etcd authentication on: a user and password work, a wrong password or none is refused")
        func authentication() async throws {
            try await withSandbox { sandbox in
                let etcd = try await EtcdCluster.start(in: sandbox)
                try await etcd.etcdctlChecked("user", "add", "root:rootpw", "--interactive=false")
                try await etcd.etcdctlChecked("auth", "enable")
                let user = EtcdConfiguration.User(name: "root", password: "rootpw")
                try await withEtcdClient(try EtcdConfiguration(endpoints: etcd.endpoints, user: user)) { client in
                    _ = try await client.put(EtcdPutRequest(key: bytes("/a/k"), value: bytes("v")))
                    #expect(try await client.range(EtcdRangeRequest(key: bytes("/a/k"))).kvs.count == 1)
                }
                let wrong = EtcdConfiguration.User(name: "root", password: "wrong")
                for configuration in [
                    try EtcdConfiguration(endpoints: etcd.endpoints, user: wrong),
                    try EtcdConfiguration(endpoints: etcd.endpoints),
                ] {
                    try await withEtcdClient(configuration) { client in
                        do throws(EtcdError) {
                            _ = try await client.range(EtcdRangeRequest(key: bytes("/a/k")))
                            Issue.record("a call without valid credentials succeeded")
                        } catch {
                            #expect(error.kind == .refused, "\(error)")
                        }
                    }
                }
            }
        }
    }
}
