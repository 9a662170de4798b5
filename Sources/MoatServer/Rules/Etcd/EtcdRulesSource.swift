import Logging
import MoatEtcd
import MoatWire
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Follows the fleet's document in etcd (docs/etcd.md, "The source"): reads it and the store's
/// revision, then watches `PREFIX/document` from the next revision; every change goes to
/// `RuleUpdater.acceptFromEtcd`, the same validate → compile → swap path as a reload of the file.
/// SIGHUP re-reads etcd. The client's connections are the daemon's (`MoatDaemon`). How a lost
/// watch is taken up again: `EtcdFollower`.
struct EtcdRulesSource: Service {
    let store: EtcdDocumentStore
    let updater: RuleUpdater
    let progressInterval: Duration
    let logger: Logger

    func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { [updater] in
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    _ = await updater.reloadSource(reason: "SIGHUP")
                }
            }
            await cancelWhenGracefulShutdown { await follow() }
            group.cancelAll()
        }
    }

    private func follow() async {
        let (store, updater, logger) = (self.store, self.updater, self.logger)
        await EtcdFollower(
            client: store.client,
            key: store.documentKey,
            rangeEnd: [],
            progressInterval: progressInterval,
            logger: logger
        ).follow(
            read: { () async throws(EtcdSourceError) -> Int64 in
                let read = try await store.read()
                await updater.acceptFromEtcd(read.document, reason: "read")
                await updater.setEtcdStale(false)
                updater.noteSourceConfirmed()
                return read.revision
            },
            created: { await updater.setEtcdStale(false) },
            handle: { response async throws(EtcdSourceError) in
                // An event or a progress notification: etcd confirms what this node has seen
                // (`--max-snapshot-age`).
                defer { updater.noteSourceConfirmed() }
                // Only the last of several changes in one reply matters: each is a whole document.
                guard let event = response.events.last else { return }
                switch event.kind {
                case .put:
                    do throws(EtcdSourceError) {
                        await updater.acceptFromEtcd(try await store.document(event.kv), reason: "watch")
                    } catch {
                        guard case .invalid(let message) = error else { throw error }
                        await updater.refuseFromEtcd(message, revision: event.kv.modRevision)
                    }
                case .delete:
                    await updater.acceptFromEtcd(nil, reason: "watch")
                }
            },
            lost: { error, pause in
                await updater.setEtcdStale(true)
                logger.warning("etcd: \(error); serving the last good rules, trying again in \(pause)")
            }
        )
    }
}

/// Reads keys of etcd, then watches them from the next revision, until cancelled: the document
/// (`EtcdRulesSource`), the fleet's shadow candidate (`FleetShadow`).
///
/// When the watch fails (etcd down, a member lost), it is opened again from the revision after
/// the last one seen, on the next endpoint, with a growing pause; when etcd compacted that
/// revision the keys are read again first. So no change is missed.
struct EtcdFollower: Sendable {
    let client: EtcdClient
    let key: [UInt8]
    let rangeEnd: [UInt8]
    let progressInterval: Duration
    let logger: Logger

    private static let firstPause = Duration.milliseconds(100)
    private static let longestPause = Duration.seconds(2)

    /// The revision the watch continues from; nil: read first.
    private final class Position: Sendable {
        let next = Mutex<Int64?>(nil)
    }

    /// `read` takes in what the keys hold and returns the store's revision at the read; `created`
    /// runs when a watch stream is open; `handle` gets every other reply (events, progress
    /// notifications) in order; `lost` is told why the watch failed and how long the pause is.
    func follow(
        read: () async throws(EtcdSourceError) -> Int64,
        created: @escaping @Sendable () async -> Void,
        handle: @escaping @Sendable (EtcdWatchResponse) async throws(EtcdSourceError) -> Void,
        lost: (EtcdSourceError, Duration) async -> Void
    ) async {
        let position = Position()
        var pause = Self.firstPause
        while !Task.isCancelled {
            let from = position.next.withLock { $0 }
            do throws(EtcdSourceError) {
                if from == nil {
                    let revision = try await read()
                    position.next.withLock { $0 = revision + 1 }
                }
                try await watch(from: position, created: created, handle: handle)
            } catch {
                if case .etcd(let failure) = error, case .compacted = failure.kind {
                    logger.notice("\(failure.message); reading again")
                    position.next.withLock { $0 = nil }
                    continue
                }
                if Task.isCancelled { return }
                // A watch that got somewhere before failing starts over with a short pause.
                if position.next.withLock({ $0 }) != from { pause = Self.firstPause }
                await lost(error, pause)
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, Self.longestPause)
                continue
            }
        }
    }

    /// One watch stream from `next`, advancing it past every event and progress notification handled.
    private func watch(
        from position: Position,
        created: @escaping @Sendable () async -> Void,
        handle: @escaping @Sendable (EtcdWatchResponse) async throws(EtcdSourceError) -> Void
    ) async throws(EtcdSourceError) {
        guard let start = position.next.withLock({ $0 }) else { return }
        do {
            try await client.watch(
                key: key,
                rangeEnd: rangeEnd,
                from: start,
                progressInterval: progressInterval
            ) { response in
                if response.created {
                    await created()
                    return
                }
                try await handle(response)
                if let event = response.events.last {
                    position.next.withLock { $0 = event.kv.modRevision + 1 }
                } else {
                    position.next.withLock { $0 = max($0 ?? 0, response.revision + 1) }
                }
            }
        } catch {
            throw .etcd(error)
        }
    }
}
