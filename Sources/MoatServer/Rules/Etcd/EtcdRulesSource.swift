import Logging
import MoatEtcd
import MoatWire
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Follows the fleet's document in etcd (docs/etcd.md, "The source"): reads it and the store's
/// revision, then watches `PREFIX/document` from the next revision; every change goes to
/// `RuleUpdater.acceptFromEtcd`, the same validate → compile → swap path as a reload of the file.
///
/// When the watch fails (etcd down, a member lost) the rules are marked stale and the watch is
/// opened again from the revision after the last one seen, on the next endpoint, with a growing
/// pause; when etcd compacted that revision the document is read again first. So no change is
/// missed, and since the updater skips documents not newer than the last handled, no revision
/// goes backwards. SIGHUP re-reads etcd. The client's connections are the daemon's (`MoatDaemon`).
struct EtcdRulesSource: Service {
    let store: EtcdDocumentStore
    let updater: RuleUpdater
    let progressInterval: Duration
    let logger: Logger

    private static let firstPause = Duration.milliseconds(100)
    private static let longestPause = Duration.seconds(2)

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

    /// The revision the watch continues from; nil: read the document first.
    private final class Position: Sendable {
        let next = Mutex<Int64?>(nil)
    }

    /// Reads, then watches, until cancelled.
    private func follow() async {
        let position = Position()
        var pause = Self.firstPause
        while !Task.isCancelled {
            let from = position.next.withLock { $0 }
            do throws(EtcdSourceError) {
                if from == nil {
                    let read = try await store.read()
                    await updater.acceptFromEtcd(read.document, reason: "read")
                    await updater.setEtcdStale(false)
                    updater.noteSourceConfirmed()
                    position.next.withLock { $0 = read.revision + 1 }
                }
                try await watch(from: position)
            } catch {
                if case .etcd(let failure) = error, case .compacted = failure.kind {
                    logger.notice("\(failure.message); reading the document again")
                    position.next.withLock { $0 = nil }
                    continue
                }
                if Task.isCancelled { return }
                // A watch that got somewhere before failing starts over with a short pause.
                if position.next.withLock({ $0 }) != from { pause = Self.firstPause }
                await updater.setEtcdStale(true)
                logger.warning("etcd: \(error); serving the last good rules, trying again in \(pause)")
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, Self.longestPause)
                continue
            }
        }
    }

    /// One watch stream from `next`, advancing it past every event and progress notification handled.
    private func watch(from position: Position) async throws(EtcdSourceError) {
        guard let start = position.next.withLock({ $0 }) else { return }
        let (store, updater) = (self.store, self.updater)
        do {
            try await store.client.watch(
                key: store.documentKey,
                rangeEnd: [],
                from: start,
                progressInterval: progressInterval
            ) { response in
                if response.created {
                    await updater.setEtcdStale(false)
                    return
                }
                // An event or a progress notification: etcd confirms what this node has seen
                // (`--max-snapshot-age`).
                defer { updater.noteSourceConfirmed() }
                // Only the last of several changes in one reply matters: each is a whole document.
                if let event = response.events.last {
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
