import Logging
import MoatCore
import MoatEtcd
import MoatWire
import ServiceLifecycle

/// This node's entry in the fleet registry (docs/etcd.md, "Fleet"): `PREFIX/nodes/NAME`, under a
/// lease so that a node that dies disappears, holding what it serves (revision hash and etcd
/// revision, since when, ready, stale, last error, version). Written when it changes; the lease is
/// kept alive meanwhile and revoked when moatd stops.
///
/// A name is claimed with a transaction that creates the key only when absent: a name a live node
/// holds is refused.
actor NodeRegistry {
    /// Seconds a dead node's entry outlives it.
    static let leaseSeconds: Int64 = 10
    static let keepAliveInterval = Duration.seconds(3)
    /// How often the entry is compared with the node's state.
    static let publishInterval = Duration.milliseconds(250)

    let client: EtcdClient
    let prefix: String
    let name: String
    private let updater: RuleUpdater
    private let logger: Logger
    private var lease: Int64?
    private var published: [UInt8]?

    init(client: EtcdClient, prefix: String, name: String, updater: RuleUpdater, logger: Logger) {
        self.client = client
        self.prefix = prefix
        self.name = name
        self.updater = updater
        self.logger = logger
    }

    var key: [UInt8] { Array((prefix + "nodes/" + name).utf8) }

    /// The lease of this node's entry while it is registered (what else this node keeps in etcd
    /// while it lives goes under it too: its report on the fleet's shadow candidate).
    var currentLease: Int64? { published == nil ? nil : lease }

    /// A live node holds the name.
    struct NameTaken: Error, CustomStringConvertible {
        var name: String
        var prefix: String
        var description: String {
            "node name '\(name)' is held by a live node (\(prefix)nodes/\(name)); choose another --node-name, or wait \(NodeRegistry.leaseSeconds) s after a crash"
        }
    }

    /// Claims the name now: true when claimed, false when etcd did not answer (claimed later by
    /// `run`); throws when a live node holds it.
    func claim() async throws -> Bool {
        do {
            return try await claimOnce()
        } catch let error as EtcdError where error.kind == .unavailable {
            logger.warning("cannot register node '\(name)' in etcd yet: \(error.message)")
            return false
        }
    }

    private func claimOnce() async throws -> Bool {
        if lease == nil { lease = try await client.grantLease(ttl: Self.leaseSeconds).id }
        guard let lease else { return false }
        let record = await entry()
        let response = try await client.txn(
            EtcdTxnRequest(
                compare: [EtcdCompare(key: key, .createRevision(0))],
                success: [.put(EtcdPutRequest(key: key, value: record, lease: lease))],
                failure: [.range(EtcdRangeRequest(key: key))]
            )
        )
        // Held by our own lease (a claim retried after its answer was lost): ours.
        if !response.succeeded, response.ranges.first?.kvs.first?.lease != lease {
            try? await client.revokeLease(lease)
            self.lease = nil
            throw NameTaken(name: name, prefix: prefix)
        }
        published = record
        return true
    }

    /// Keeps the entry alive and current until cancelled; then revokes the lease.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.keepAlive() }
            while !Task.isCancelled {
                do {
                    try await publishIfChanged()
                } catch let taken as NameTaken {
                    logger.error("\(taken)")
                } catch {
                    logger.warning("cannot update node '\(name)' in etcd: \(error)")
                }
                try? await Task.sleep(for: Self.publishInterval)
            }
            group.cancelAll()
        }
        // This task is cancelled: the revoke runs in one that is not.
        if let lease { await Task { [client] in try? await client.revokeLease(lease) }.value }
    }

    private func publishIfChanged() async throws {
        guard let lease, published != nil else {
            _ = try await claimOnce()
            return
        }
        let record = await entry()
        guard record != published else { return }
        _ = try await client.put(EtcdPutRequest(key: key, value: record, lease: lease))
        published = record
    }

    /// Renews the lease; when it is lost (expired while etcd was away), the entry is claimed again.
    private func keepAlive() async {
        while !Task.isCancelled {
            guard let lease else {
                try? await Task.sleep(for: Self.keepAliveInterval)
                continue
            }
            do {
                try await client.keepAlive(lease: lease, every: Self.keepAliveInterval)
            } catch {
                if error.kind == .leaseExpired { forget(lease) }
                try? await Task.sleep(for: Self.keepAliveInterval)
            }
        }
    }

    private func forget(_ expired: Int64) {
        guard lease == expired else { return }
        lease = nil
        published = nil
    }

    /// The entry's JSON.
    private func entry() async -> [UInt8] {
        let status = await updater.status()
        let value = JSONValue.object([
            ("name", .string(name)),
            ("revision", .string(status.serving?.revision.hash ?? "")),
            ("etcdRevision", .number(String(status.etcd?.revision ?? 0))),
            ("since", .number(String(status.serving?.loadedAtMillis ?? 0))),
            ("ready", .bool(status.ready)),
            ("stale", .bool(status.etcd?.stale ?? true)),
            ("lastError", status.lastReloadError.map { .string($0) } ?? .null),
            ("version", .string(moatVersion)),
        ])
        return Array(value.serialized(.document).utf8)
    }

    /// Every node's entry, by name.
    static func nodes(client: EtcdClient, prefix: String) async throws(EtcdError) -> [FleetNode] {
        let nodesPrefix = Array((prefix + "nodes/").utf8)
        let response = try await client.range(
            EtcdRangeRequest(key: nodesPrefix, rangeEnd: EtcdKeys.prefixEnd(nodesPrefix))
        )
        return response.kvs.compactMap { kv in
            guard let value = try? JSONValue(parsing: kv.value) else { return nil }
            return FleetNode(
                name: value["name"]?.stringValue
                    ?? String(decoding: kv.key.dropFirst(nodesPrefix.count), as: UTF8.self),
                revisionHash: value["revision"]?.stringValue ?? "",
                etcdRevision: value["etcdRevision"]?.int64Value ?? 0,
                sinceUnixMillis: value["since"]?.int64Value ?? 0,
                ready: value["ready"]?.boolValue ?? false,
                stale: value["stale"]?.boolValue ?? true,
                lastError: value["lastError"]?.stringValue,
                version: value["version"]?.stringValue ?? ""
            )
        }
    }
}

/// Runs the registry until moatd shuts down.
struct NodeRegistryService: Service {
    let registry: NodeRegistry

    func run() async throws {
        await cancelWhenGracefulShutdown { await registry.run() }
    }
}
