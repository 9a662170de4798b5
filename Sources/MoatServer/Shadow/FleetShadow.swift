import Logging
import MoatCore
import MoatEtcd
import MoatIdentity
import MoatWire
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// The fleet's shadow candidate (docs/etcd.md, "A fleet's shadow candidate"): with the etcd
/// source, a candidate kept in etcd so that every node judges it, and a report summing theirs.
///
/// - `PREFIX/shadow/candidate`: a `FleetShadowEntry` (the document, or its chunk manifest, the
///   base it was built on, the sample rate, the changes that built it, who put it and when);
/// - `PREFIX/shadow/reports/NODE`: each node's `FleetShadowReport`, under the node's lease;
/// - `PREFIX/shadow/report-request`: a request id; every node answers each new one with its report.
///
/// Every node watches the candidate and request keys (`EtcdFollower`, so nothing is missed across
/// reconnects; the reports are not watched): it loads each candidate put (`RuleUpdater.loadFleetShadow`), drops it when it is deleted, and
/// answers report requests. The control calls with `fleet` (push, a change with `--shadow`,
/// report, promote, drop) work on etcd through any node.
final class FleetShadow: Sendable {
    static let candidateKey = "shadow/candidate"
    static let reportsPrefix = "shadow/reports/"
    static let requestKey = "shadow/report-request"
    /// How often a control call looks whether the nodes answered, or this node loaded a candidate.
    static let pollInterval = Duration.milliseconds(50)

    let etcd: EtcdDocumentStore
    let updater: RuleUpdater
    let registry: NodeRegistry
    let progressInterval: Duration
    let logger: Logger

    /// What this node made of the candidate key last: its mod revision (of the delete, when it
    /// was deleted), the candidate's hash and why it could not be loaded.
    private struct Loaded: Sendable {
        var modRevision: Int64 = 0
        var candidateHash = ""
        var error: String?
    }

    private let loaded = NIOLockedValueBox(Loaded())

    init(
        etcd: EtcdDocumentStore,
        updater: RuleUpdater,
        registry: NodeRegistry,
        progressInterval: Duration,
        logger: Logger
    ) {
        self.etcd = etcd
        self.updater = updater
        self.registry = registry
        self.progressInterval = progressInterval
        self.logger = logger
    }

    private var candidateKey: [UInt8] { etcd.key(Self.candidateKey) }
    private var reportsKey: [UInt8] { etcd.key(Self.reportsPrefix) }
    private var requestKey: [UInt8] { etcd.key(Self.requestKey) }

    // MARK: - Every node

    /// Reads the candidate and any report request, then watches both keys, until cancelled. The
    /// two keys are adjacent (`candidate` < `report-request` < `reports/`): one range reads both at
    /// one revision, which the watch starts after, and the watch leaves out the reports.
    func follow() async {
        // A candidate is loaded beside the serving document: wait for this node's first (its
        // cache, or etcd's document), or a candidate read first would be refused for want of it
        // and not tried again until the next one is put.
        while updater.store.serving == nil {
            guard await Self.paused() else { return }
        }
        let rangeEnd = requestKey + [0]
        await EtcdFollower(
            client: etcd.client,
            key: candidateKey,
            rangeEnd: rangeEnd,
            progressInterval: progressInterval,
            logger: logger
        ).follow(
            read: { () async throws(EtcdSourceError) -> Int64 in
                let both = try await etcd.call {
                    try await etcd.client.range(EtcdRangeRequest(key: candidateKey, rangeEnd: rangeEnd))
                }
                if let kv = both.kvs.first(where: { $0.key == candidateKey }) {
                    try await load(kv)
                } else {
                    await drop(atRevision: both.revision)
                }
                if let kv = both.kvs.first(where: { $0.key == requestKey }) {
                    await publish(requestId: String(decoding: kv.value, as: UTF8.self))
                }
                return both.revision
            },
            created: {},
            handle: { response async throws(EtcdSourceError) in
                for event in response.events { try await self.handle(event) }
            },
            lost: { error, pause in
                logger.warning("etcd: the fleet's shadow candidate: \(error); watching again in \(pause)")
            }
        )
    }

    private func handle(_ event: EtcdEvent) async throws(EtcdSourceError) {
        switch (event.kv.key, event.kind) {
        case (candidateKey, .put): try await load(event.kv)
        case (candidateKey, .delete): await drop(atRevision: event.kv.modRevision)
        case (requestKey, .put): await publish(requestId: String(decoding: event.kv.value, as: UTF8.self))
        default: break
        }
    }

    /// Loads the candidate `kv` holds; one that cannot be loaded is logged and reported. Throws
    /// when etcd did not answer (reading its chunks): the watch then takes the event up again.
    private func load(_ kv: EtcdKeyValue) async throws(EtcdSourceError) {
        var hash = ""
        do {
            let entry = try FleetShadowEntry(wirePayload: ByteBuffer(bytes: kv.value))
            hash = entry.candidateHash
            let document = try await etcd.resolve(entry.document)
            try await updater.loadFleetShadow(
                entry,
                document: document,
                mark: ShadowCandidate.FleetMark(modRevision: kv.modRevision, candidateHash: hash)
            )
            loaded.withLockedValue { $0 = Loaded(modRevision: kv.modRevision, candidateHash: hash) }
        } catch let error as EtcdSourceError where error.statusCode == .unavailable {
            throw error
        } catch {
            let message =
                (error as? StatusError).map {
                    ([$0.message] + $0.details.map { "\($0.path): \($0.message)" }).joined(separator: "; ")
                } ?? "\(error)"
            loaded.withLockedValue { $0 = Loaded(modRevision: kv.modRevision, candidateHash: hash, error: message) }
            logger.warning("cannot load the fleet's shadow candidate (etcd revision \(kv.modRevision)): \(message)")
            await updater.dropFleetShadow(because: "the fleet's candidate that replaces it cannot be loaded")
        }
    }

    private func drop(atRevision revision: Int64) async {
        loaded.withLockedValue { $0 = Loaded(modRevision: revision) }
        await updater.dropFleetShadow(because: "it was deleted from etcd")
    }

    /// Writes this node's report on the fleet's candidate, answering `requestId`, under the node's lease.
    private func publish(requestId: String) async {
        let known = loaded.withLockedValue { $0 }
        var report = ShadowReportResponse(summary: nil)
        var error = known.error
        if error == nil, !known.candidateHash.isEmpty {
            let mark = ShadowCandidate.FleetMark(modRevision: known.modRevision, candidateHash: known.candidateHash)
            switch updater.store.shadow.candidate {
            case let candidate? where candidate.fleet == mark: report = await updater.shadowReport()
            case nil:
                error =
                    "no candidate is loaded on this node (the serving document became it, or its changes no longer apply to the serving document)"
            case let candidate? where candidate.fleet == nil:
                error =
                    "this node judges a node-local candidate \(candidate.revision.hash) instead (moatctl shadow push without --fleet)"
            case let candidate?:
                error =
                    "this node judges the fleet's candidate \(candidate.fleet?.candidateHash ?? "") of etcd revision \(candidate.fleet?.modRevision ?? 0) instead"
            }
        }
        guard let lease = await registry.currentLease else {
            logger.notice("not registered in etcd yet: no report on the fleet's shadow candidate")
            return
        }
        let value = FleetShadowReport(
            node: registry.name,
            candidateHash: known.candidateHash,
            requestId: requestId,
            report: report,
            error: error
        )
        do throws(EtcdSourceError) {
            let bytes = try Self.encoded(value)
            _ = try await etcd.call {
                try await etcd.client.put(
                    EtcdPutRequest(key: etcd.key(Self.reportsPrefix + registry.name), value: bytes, lease: lease)
                )
            }
        } catch {
            logger.warning("cannot publish this node's report on the fleet's shadow candidate: \(error)")
        }
    }

    // MARK: - Control calls (any node)

    /// ShadowPush with `fleet`: validated here, then put in etcd (replacing any), built on etcd's
    /// document; answered once this node judges it.
    func push(_ bytes: [UInt8], sampleRate: Double?) async throws(StatusError) -> ChangeResponse {
        let rate = sampleRate ?? 1
        try ShadowCandidate.checkSampleRate(rate)
        _ = try await updater.compile(bytes)
        for _ in 0..<RuleUpdater.etcdAttempts {
            let base = try await Self.changing { () async throws(EtcdSourceError) in try await etcd.read().document }
            guard
                let revision = try await write(
                    bytes,
                    base: base.map { RevisionHash.of($0.bytes) } ?? "",
                    sampleRate: rate,
                    changes: nil,
                    replacing: nil
                )
            else { continue }
            return await judged(RevisionHash.of(bytes), atRevision: revision, summary: "pushed")
        }
        throw StatusError(
            .aborted,
            "etcd collected the candidate's chunks \(RuleUpdater.etcdAttempts) times while it was put; nothing was changed"
        )
    }

    /// ApplyChange with `shadow` and `fleet`: the change made on the fleet's candidate (on etcd's
    /// document when there is none) and written back while the candidate key is unchanged
    /// (retried from the read when it changed).
    func apply(
        _ change: DocumentChange,
        expectedRevision: String?,
        dryRun: Bool
    ) async throws(StatusError) -> ChangeResponse {
        for _ in 0..<RuleUpdater.etcdAttempts {
            let current = try await candidate()
            let serving = try await Self.changing { () async throws(EtcdSourceError) in try await etcd.read().document }
            let servingHash = serving.map { RevisionHash.of($0.bytes) } ?? ""
            try RuleUpdater.checkExpected(expectedRevision, current: servingHash)
            guard let base = current?.document ?? serving?.bytes else {
                throw StatusError(
                    .failedPrecondition,
                    "etcd holds no document to build the fleet's shadow candidate on; nothing was changed"
                )
            }
            guard let bytes = try await updater.edited(base, [change]) else {
                return ChangeResponse(
                    changed: false,
                    revision: Revision(sequence: 0, hash: current?.entry.candidateHash ?? servingHash),
                    summary:
                        "no change: \(current == nil ? "etcd's document" : "the fleet's shadow candidate") already says so"
                )
            }
            let rules = try await updater.compile(bytes)
            if dryRun {
                return ChangeResponse(
                    changed: true,
                    revision: rules.snapshot.revision,
                    summary:
                        "dry run: valid; \(RuleUpdater.describe(change)) would make the fleet's shadow candidate \(rules.snapshot.revision.hash)"
                )
            }
            let changes: [DocumentChange]? = current.map { $0.entry.changes.map { $0 + [change] } } ?? [change]
            guard
                let revision = try await write(
                    bytes,
                    base: current?.entry.baseHash ?? servingHash,
                    sampleRate: current?.entry.sampleRate ?? 1,
                    changes: changes,
                    replacing: current?.modRevision ?? 0
                )
            else { continue }
            return await judged(
                rules.snapshot.revision.hash,
                atRevision: revision,
                summary: RuleUpdater.describe(change)
            )
        }
        throw StatusError(
            .aborted,
            "the fleet's shadow candidate changed \(RuleUpdater.etcdAttempts) times while this change was made; nothing was changed"
        )
    }

    /// ShadowReport with `fleet`: every live node's report, summed (no `summary`: no candidate).
    func report() async throws(StatusError) -> ShadowReportResponse {
        try await collect()?.response ?? ShadowReportResponse(summary: nil)
    }

    /// ShadowPromote with `fleet`: refused unless every live node reported and judges it, and the
    /// summed flips are within the limit; then etcd's document, and the candidate key deleted.
    func promote(maximumFlips: UInt64?) async throws(StatusError) -> ChangeResponse {
        guard let collected = try await collect(), let summary = collected.response.summary else {
            throw StatusError(
                .failedPrecondition,
                "no fleet shadow candidate is in etcd (moatctl shadow push FILE --fleet); nothing was changed"
            )
        }
        let report = collected.response
        guard report.missingNodes.isEmpty else {
            throw StatusError(
                .failedPrecondition,
                "node\(report.missingNodes.count == 1 ? "" : "s") \(report.missingNodes.joined(separator: ", ")) did not report on the fleet's shadow candidate within \(etcd.client.configuration.timeout); nothing was changed"
            )
        }
        guard report.nodes.contains(where: { $0.name == registry.name }) else {
            throw StatusError(
                .failedPrecondition,
                "this node (\(registry.name)) did not report on the fleet's shadow candidate: it is not registered in etcd (moatctl fleet status)\(report.nodes.isEmpty ? ", nor is any other node" : ""); nothing was changed"
            )
        }
        let failed = report.nodes.filter { $0.error != nil }
        guard failed.isEmpty else {
            throw StatusError(
                .failedPrecondition,
                "the fleet's shadow candidate is not judged by \(failed.map { "\($0.name) (\($0.error ?? ""))" }.joined(separator: ", ")); nothing was changed"
            )
        }
        try summary.checkFlips(
            within: maximumFlips,
            of: "the fleet's shadow candidate \(summary.candidate.hash), on \(report.nodes.count) nodes,",
            report: "moatctl shadow report --fleet"
        )
        let response = try await updater.promoteFleetShadow(
            collected.entry,
            in: etcd,
            document: collected.document,
            holding: RuleUpdater.EtcdCondition(
                compare: EtcdCompare(key: candidateKey, .modRevision(collected.modRevision))
            ) {
                await self.replaced(collected.entry.candidateHash)
            }
        )
        do throws(StatusError) {
            _ = try await delete(holding: collected.modRevision)
        } catch {
            logger.warning("promoted the fleet's shadow candidate, but cannot delete it from etcd: \(error.message)")
        }
        logger.notice(
            "promoted the fleet's shadow candidate \(summary.candidate.hash) (\(summary.compared) checks compared on \(report.nodes.count) nodes, \(summary.flips) flips): \(response.summary)"
        )
        return ChangeResponse(
            changed: response.changed,
            revision: response.revision,
            summary:
                "promoted the fleet's shadow candidate (\(summary.compared) checks compared on \(report.nodes.count) nodes, \(summary.flips) flips): \(response.summary)"
        )
    }

    /// ShadowDrop with `fleet`: the candidate key deleted (with the reports); every node drops it.
    func drop() async throws(StatusError) -> ChangeResponse {
        let deleted = try await delete(holding: nil)
        let serving = updater.store.serving?.revision ?? Revision(sequence: 0, hash: "")
        guard let deleted else {
            return ChangeResponse(changed: false, revision: serving, summary: "no fleet shadow candidate was in etcd")
        }
        _ = await reached(deleted)
        return ChangeResponse(
            changed: true,
            revision: serving,
            summary: "deleted the fleet's shadow candidate from etcd (etcd revision \(deleted)); every node drops it"
        )
    }

    /// The refusal of a promote of the candidate `hash` once the candidate key changed: it names
    /// the candidate put since, or says it was dropped.
    private func replaced(_ hash: String) async -> StatusError {
        let now: String
        do {
            now =
                try await candidate().map {
                    "a new candidate \($0.entry.candidateHash) (put by \($0.entry.putBy), etcd revision \($0.modRevision)) replaced it"
                } ?? "it was dropped"
        } catch {
            now = "it changed (\(error.message))"
        }
        return StatusError(
            .aborted,
            "the fleet's shadow candidate \(hash) was not promoted: \(now) while it was promoted; nothing was changed (moatctl shadow report --fleet)"
        )
    }

    // MARK: - Etcd

    /// The candidate in etcd, its document resolved, and the key's mod revision; nil when none.
    private func candidate() async throws(StatusError) -> (
        entry: FleetShadowEntry, document: [UInt8], modRevision: Int64
    )? {
        let response = try await Self.changing { () async throws(EtcdSourceError) in
            try await etcd.call { try await etcd.client.range(EtcdRangeRequest(key: candidateKey)) }
        }
        guard let kv = response.kvs.first else { return nil }
        let entry: FleetShadowEntry
        do {
            entry = try FleetShadowEntry(wirePayload: ByteBuffer(bytes: kv.value))
        } catch {
            throw StatusError(
                .failedPrecondition,
                "the fleet's shadow candidate in etcd cannot be read (\(error)); nothing was changed (moatctl shadow drop --fleet)"
            )
        }
        let document = try await Self.changing { () async throws(EtcdSourceError) in
            try await etcd.resolve(entry.document)
        }
        return (entry, document, kv.modRevision)
    }

    /// Puts the candidate (its chunks first) and deletes the reports on the previous one, while
    /// the candidate key is at `replacing` (nil: whatever it holds) and its chunks exist: the etcd
    /// revision, or nil when the transaction did not hold.
    private func write(
        _ bytes: [UInt8],
        base: String,
        sampleRate: Double,
        changes: [DocumentChange]?,
        replacing: Int64?
    ) async throws(StatusError) -> Int64? {
        try await Self.changing { () async throws(EtcdSourceError) -> Int64? in
            let (value, chunksExist) = try await etcd.storable(bytes)
            let entry = FleetShadowEntry(
                document: value,
                candidateHash: RevisionHash.of(bytes),
                baseHash: base,
                sampleRate: sampleRate,
                changes: changes,
                putBy: registry.name,
                putAtUnixMillis: WallClock.millis()
            )
            let encoded = try Self.encoded(entry)
            let held = replacing.map { [EtcdCompare(key: candidateKey, .modRevision($0))] } ?? []
            let response = try await etcd.call {
                try await etcd.client.txn(
                    EtcdTxnRequest(
                        compare: chunksExist + held,
                        success: [
                            .put(EtcdPutRequest(key: candidateKey, value: encoded)),
                            .delete(EtcdDeleteRequest(key: reportsKey, rangeEnd: EtcdKeys.prefixEnd(reportsKey))),
                        ]
                    )
                )
            }
            return response.succeeded ? response.revision : nil
        }
    }

    /// Deletes the candidate, the reports and the request while the candidate key is at
    /// `modRevision` (nil: while there is one): the etcd revision, nil when there was none.
    private func delete(holding modRevision: Int64?) async throws(StatusError) -> Int64? {
        try await Self.changing { () async throws(EtcdSourceError) -> Int64? in
            let response = try await etcd.call {
                try await etcd.client.txn(
                    EtcdTxnRequest(
                        compare: [
                            modRevision.map { EtcdCompare(key: candidateKey, .modRevision($0)) }
                                ?? EtcdCompare(key: candidateKey, .version(0), .greater)
                        ],
                        success: [
                            .delete(EtcdDeleteRequest(key: candidateKey)),
                            .delete(EtcdDeleteRequest(key: reportsKey, rangeEnd: EtcdKeys.prefixEnd(reportsKey))),
                            .delete(EtcdDeleteRequest(key: requestKey)),
                        ]
                    )
                )
            }
            return response.succeeded ? response.revision : nil
        }
    }

    /// Asks every node for its report (a new request id) and waits until every live (registered)
    /// node answered it, `--etcd-timeout` passed or the call is cancelled; nil when there is no
    /// candidate.
    private func collect() async throws(StatusError) -> (
        entry: FleetShadowEntry, document: [UInt8], modRevision: Int64, response: ShadowReportResponse
    )? {
        guard let current = try await candidate() else { return nil }
        let id = String(UInt64.random(in: .min ... .max), radix: 16)
        let deadline = ContinuousClock.now + etcd.client.configuration.timeout
        return try await Self.changing { () async throws(EtcdSourceError) in
            _ = try await etcd.call {
                try await etcd.client.put(EtcdPutRequest(key: requestKey, value: Array(id.utf8)))
            }
            var answered: [String: FleetShadowReport] = [:]
            var missing: [String] = []
            while true {
                let nodes = try await etcd.call {
                    try await NodeRegistry.nodes(client: etcd.client, prefix: etcd.prefix)
                }
                let reports = try await etcd.call {
                    try await etcd.client.range(
                        EtcdRangeRequest(key: reportsKey, rangeEnd: EtcdKeys.prefixEnd(reportsKey))
                    )
                }
                let names = Set(nodes.map(\.name))
                for kv in reports.kvs {
                    guard let report = try? FleetShadowReport(wirePayload: ByteBuffer(bytes: kv.value)),
                        report.requestId == id, names.contains(report.node)
                    else { continue }
                    answered[report.node] = Self.judging(report, current.entry.candidateHash)
                }
                missing = nodes.map(\.name).filter { answered[$0] == nil }
                // Cancelled (moatd shutting down): the missing nodes stay listed, so nothing is promoted.
                guard !missing.isEmpty, ContinuousClock.now < deadline, await Self.paused() else { break }
            }
            let document = try await etcd.read().document
            var summary = ShadowSummary(
                candidate: Revision(sequence: 0, hash: current.entry.candidateHash),
                base: Revision(sequence: 0, hash: current.entry.baseHash),
                changes: current.entry.changes?.map(RuleUpdater.describe) ?? [],
                sampleRate: current.entry.sampleRate,
                loadedAtUnixMillis: current.entry.putAtUnixMillis,
                baseChanged: document.map { RevisionHash.of($0.bytes) } != current.entry.baseHash
            )
            summary.fleet = true
            return (
                current.entry, current.document, current.modRevision,
                FleetShadowSum.sum(summary, reports: Array(answered.values), missing: missing)
            )
        }
    }

    /// `report` as it counts for the candidate `hash`: one on another candidate (or none), or with
    /// no summary, judges nothing: its counts are not summed, and it names why as its error.
    private static func judging(_ report: FleetShadowReport, _ hash: String) -> FleetShadowReport {
        guard report.error == nil else { return report }
        var refused = report
        if report.candidateHash != hash {
            refused.error =
                "it reported on \(report.candidateHash.isEmpty ? "no candidate" : "candidate \(report.candidateHash)") instead"
        } else if report.report.summary == nil {
            refused.error = "it judges no candidate"
        } else {
            return report
        }
        refused.report = ShadowReportResponse(summary: nil)
        return refused
    }

    /// Waits (at most `--etcd-timeout`, and not once cancelled) until this node has handled the
    /// candidate key at `revision`; returns what it made of it.
    private func reached(_ revision: Int64) async -> Loaded? {
        let deadline = ContinuousClock.now + etcd.client.configuration.timeout
        while true {
            let known = loaded.withLockedValue { $0 }
            if known.modRevision >= revision { return known }
            guard ContinuousClock.now < deadline, await Self.paused() else { return nil }
        }
    }

    /// Waits `pollInterval`: false when cancelled, so that a polling loop stops.
    private static func paused() async -> Bool {
        (try? await Task.sleep(for: pollInterval)) != nil
    }

    /// The answer to a put candidate, once this node judges it (or cannot, or `--etcd-timeout` passed).
    private func judged(_ hash: String, atRevision revision: Int64, summary: String) async -> ChangeResponse {
        let here: String
        switch await reached(revision) {
        case nil: here = "this node has not loaded it yet"
        case let known? where known.error != nil: here = "this node cannot load it: \(known.error ?? "")"
        case _?: here = "this node judges it"
        }
        return ChangeResponse(
            changed: true,
            revision: Revision(sequence: 0, hash: hash),
            summary:
                "the fleet's shadow candidate \(hash) (\(summary)) is in etcd (\(etcd.prefix)\(Self.candidateKey), etcd revision \(revision)); every node judges it, none serves it; \(here)"
        )
    }

    /// `body`'s etcd failure as a control call answers it (docs/etcd.md, "Control calls with the
    /// etcd source"): UNAVAILABLE or FAILED_PRECONDITION, nothing changed.
    private static func changing<T>(_ body: () async throws(EtcdSourceError) -> T) async throws(StatusError) -> T {
        do {
            return try await body()
        } catch {
            throw RuleUpdater.statusError(error)
        }
    }

    private static func encoded(_ message: some WireMessage) throws(EtcdSourceError) -> [UInt8] {
        var buffer = ByteBuffer()
        do {
            try message.encode(into: &buffer)
        } catch {
            throw .invalid("\(error)")
        }
        return Array(buffer.readableBytesView)
    }
}

/// Follows the fleet's shadow candidate until moatd shuts down.
struct FleetShadowService: Service {
    let fleet: FleetShadow

    func run() async throws {
        await cancelWhenGracefulShutdown { await fleet.follow() }
    }
}
