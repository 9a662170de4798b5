import Logging
import MoatCore
import MoatEtcd
import MoatIdentity
import MoatWire
import NIOPosix
import Prometheus

/// Every change to the serving rules goes through here, one at a time: reloads of the rules file,
/// pushes and changes from the control socket, rollbacks, and with the etcd source (docs/etcd.md)
/// etcd's documents, control changes being committed to etcd first.
///
/// A new document is validated and compiled here, off the request path; when it comes from the
/// control socket it is written back to the rules file (atomically) before it takes effect, so a
/// restart always finds what was last accepted. Then one atomic store publishes it.
///
/// Blocking work (reading, compiling and writing the rules file) runs on a `NIOThreadPool`, never
/// on the cooperative pool. An actor re-enters at every `await`, so changes are serialized
/// explicitly: one at a time, in the order they reached the updater (`oneAtATime`).
actor RuleUpdater {
    /// What `Status` reports.
    struct Status: Sendable {
        var ready: Bool
        var notReadyReason: String?
        var serving: ServingState?
        var rulesFile: String
        var uptimeSeconds: UInt64
        /// Kept revisions other than the current one, newest first.
        var history: [Revision]
        var reloadFailures: UInt64
        var lastReloadError: String?
        /// When the rules source last confirmed the rules are current, and `--max-snapshot-age`.
        var freshness: RulesFreshness
        /// With the etcd source: whether the serving rules may be behind etcd (served from the
        /// cache, or the watch is lost), and the mod revision of the etcd document last handled.
        var etcd: (source: String, stale: Bool, revision: Int64)?
    }

    /// A document kept for rollback.
    private struct Kept {
        var document: [UInt8]
        var revision: Revision
    }

    /// Revisions kept before the current one: five.
    static let keptRevisions = 5

    let file: RulesFile
    /// The etcd source, nil for the rules file: with it, reloads read etcd, control changes are
    /// committed to etcd, and the rules file is only the cache of what was last accepted.
    let etcd: EtcdDocumentStore?
    let store: RuleStore
    let metrics: ServerMetrics
    let logger: Logger
    private let startedAt = WallClock.millis()
    private var history: [Kept] = []
    /// Position of the serving document in `history`; rollbacks move it back.
    private var cursor = -1
    /// What the last look at the rules file found (`nil` before the first look): a reload that
    /// finds the same again does nothing, so a missing file is reported once, not at every poll.
    private var lastLook: Look?
    /// Whether the rules file held what is serving at the last look (or write): a look that finds
    /// it unchanged then confirms the rules are current (`noteSourceConfirmed()`).
    private var fileHoldsServing = false

    private enum Look: Equatable {
        case missing
        case present(RulesFile.Fingerprint)

        init(_ file: RulesFile) {
            self = file.fingerprint().map(Look.present) ?? .missing
        }
    }
    private var reloadFailures: UInt64 = 0
    private var lastReloadError: String?
    /// Where file I/O and compiles run.
    private let threadPool: NIOThreadPool
    /// The mod revision of etcd's document last handled (accepted or refused): older news is skipped.
    private var etcdRevision: Int64 = 0
    /// Whether the serving rules may be behind etcd.
    private var etcdStale = true
    /// Conflicting writes to etcd a control change retries before giving up.
    static let etcdAttempts = 10
    /// Whether a change is running; the ones that arrived meanwhile wait in `waiting`, oldest first.
    private var changing = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    /// `--ready-requires-keys`: not ready while a tenant with a key source has no key set yet.
    private let readyRequiresKeys: Bool

    init(
        file: RulesFile,
        etcd: EtcdDocumentStore? = nil,
        store: RuleStore,
        metrics: ServerMetrics,
        logger: Logger,
        threadPool: NIOThreadPool = .singleton,
        readyRequiresKeys: Bool = false
    ) {
        self.readyRequiresKeys = readyRequiresKeys
        self.file = file
        self.etcd = etcd
        self.store = store
        self.metrics = metrics
        self.logger = logger
        self.threadPool = threadPool
    }

    /// Changes that arrived and have not finished: the running one and those waiting their turn.
    var pendingChanges: Int { (changing ? 1 : 0) + waiting.count }

    /// Runs `body` when every change that arrived before it has finished, and no other meanwhile.
    func oneAtATime<T, E: Error>(_ body: () async throws(E) -> T) async throws(E) -> T {
        if changing {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            changing = true
        }
        // Hands the turn to the next in line (`changing` stays true), or frees it.
        defer {
            if waiting.isEmpty { changing = false } else { waiting.removeFirst().resume() }
        }
        return try await body()
    }

    /// Runs blocking `work` on the thread pool. Fails (UNAVAILABLE) only when the pool no longer
    /// runs work (the daemon is stopping) or the caller was cancelled before it started.
    func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async throws(StatusError) -> T {
        do {
            return try await threadPool.runIfActive(work)
        } catch {
            throw StatusError(.unavailable, "the daemon is stopping; nothing was changed (\(error))")
        }
    }

    // MARK: - The rules file

    /// Re-reads the rules file when it changed since the last look (or always, when `force`).
    /// An invalid or missing file keeps the serving revision; the problem is logged and counted.
    @discardableResult
    func reloadFromFile(reason: String, force: Bool = false) async -> Result<ChangeResponse, StatusError> {
        await oneAtATime { () async -> Result<ChangeResponse, StatusError> in
            await reload(reason: reason, force: force)
        }
    }

    /// `reloadFromFile`, within a change's turn.
    private func reload(reason: String, force: Bool) async -> Result<ChangeResponse, StatusError> {
        let file = self.file
        let look: Look
        do {
            look = try await blocking { Look(file) }
        } catch {
            return .failure(error)
        }
        if !force && look == lastLook {
            if fileHoldsServing && etcd == nil { noteSourceConfirmed() }
            return .success(unchanged())
        }
        lastLook = look
        fileHoldsServing = false
        let bytes: [UInt8]
        do {
            switch try await blocking({ Result { () throws(RulesFileError) in try file.read() } }) {
            case .success(let read): bytes = read
            case .failure(let error):
                return .failure(
                    refuseReload(
                        error.message,
                        details: [],
                        code: error.code == .notFound ? .notFound : .failedPrecondition
                    )
                )
            }
        } catch {
            return .failure(error)
        }
        do {
            let accepted = try await accept(
                bytes,
                summary: "reloaded '\(file.path)' (\(reason))",
                writeBack: .none,
                dryRun: false
            )
            fileHoldsServing = true
            if etcd == nil { noteSourceConfirmed() }
            return .success(accepted)
        } catch {
            return .failure(
                refuseReload("rules file '\(file.path)' is invalid: \(error.message)", details: error.details)
            )
        }
    }

    private func refuseReload(
        _ message: String,
        details: [StatusError.Detail],
        code: StatusCode = .invalidArgument
    ) -> StatusError {
        reloadFailures += 1
        lastReloadError = details.first.map { "\(message): first error: \($0.path): \($0.message)" } ?? message
        metrics.reloadFailures.increment()
        let keeping =
            store.serving.map { "keeping revision \($0.revision)" }
            ?? "not ready: checks are refused until the file is valid"
        logger.error("\(message); \(keeping)", metadata: ["errors": "\(details.count)"])
        for detail in details.prefix(100) {
            logger.error("invalid rules", metadata: ["path": "\(detail.path)", "error": "\(detail.message)"])
        }
        return StatusError(code: code, message: message, details: details)
    }

    // MARK: - Control calls

    /// Replaces the whole document (PutDocument).
    func put(
        _ bytes: [UInt8],
        expectedRevision: String?,
        dryRun: Bool
    ) async throws(StatusError) -> ChangeResponse {
        if let etcd {
            return try await etcdChange(etcd, expectedRevision: expectedRevision, dryRun: dryRun) { _, _ in
                (bytes, "document replaced")
            }
        }
        return try await controlChange(expectedRevision: expectedRevision) { () async throws(StatusError) in
            try await accept(bytes, summary: "document replaced", writeBack: .beforePublishing, dryRun: dryRun)
        }
    }

    /// Applies one change to the current document (ApplyChange).
    func apply(
        _ change: DocumentChange,
        expectedRevision: String?,
        dryRun: Bool
    ) async throws(StatusError) -> ChangeResponse {
        if let etcd {
            return try await etcdChange(etcd, expectedRevision: expectedRevision, dryRun: dryRun) {
                current,
                _ async throws(StatusError) in
                let base = try await editableBase(current)
                return try await blocking { () -> Result<[UInt8]?, StatusError> in
                    Result { () throws(StatusError) in try Self.edit(base, with: change) }
                }.get().map { ($0, Self.describe(change)) }
            }
        }
        return try await controlChange(expectedRevision: expectedRevision) { () async throws(StatusError) in
            let serving = store.serving
            if serving == nil, try await blocking({ [file] in file.fingerprint() != nil }) {
                throw StatusError(
                    .failedPrecondition,
                    "no valid rules are loaded (\(lastReloadError ?? "the rules file is invalid")); fix the file or push a whole document"
                )
            }
            // Parsing, editing and serializing a large document takes a while: on the pool too.
            let edited = try await blocking { () -> Result<[UInt8]?, StatusError> in
                Result { () throws(StatusError) in try Self.edit(serving?.document, with: change) }
            }.get()
            guard let bytes = edited else { return unchanged(summary: "no change: the document already says so") }
            return try await accept(
                bytes,
                summary: Self.describe(change),
                writeBack: .beforePublishing,
                dryRun: dryRun
            )
        }
    }

    /// A PutDocument or ApplyChange in its turn: on top of any unreported edit of the rules file,
    /// and only when the serving revision is the one the caller expects.
    private func controlChange(
        expectedRevision: String?,
        _ body: () async throws(StatusError) -> ChangeResponse
    ) async throws(StatusError) -> ChangeResponse {
        try await oneAtATime { () async throws(StatusError) -> ChangeResponse in
            await catchUpWithFile()
            try Self.checkExpected(expectedRevision, current: store.serving?.revision.hash ?? "")
            return try await body()
        }
    }

    /// `change` applied to the serving document (an empty one when none is serving and the rules
    /// file is missing): the new document's bytes, or nil when it already says so.
    static func edit(_ serving: [UInt8]?, with change: DocumentChange) throws(StatusError) -> [UInt8]? {
        let base: JSONValue
        if let serving {
            // The serving bytes parsed when they were accepted; failing now would be a bug, and
            // editing an empty document instead would erase every vault.
            guard let parsed = try? JSONValue(parsing: serving) else {
                throw StatusError(.internalError, "the serving document no longer parses")
            }
            base = parsed
        } else {
            base = .object([])
        }
        var editor = RuleDocumentEditor(document: base)
        do {
            guard try editor.apply(change) else { return nil }
        } catch {
            throw StatusError(error.kind == .notFound ? .notFound : .invalidArgument, error.message)
        }
        return Array((editor.document.serialized(.document) + "\n").utf8)
    }

    /// Returns to a kept revision: the one before the current (`hash` nil) or the one named.
    func rollback(to hash: String?) async throws(StatusError) -> ChangeResponse {
        if let etcd {
            return try await etcdChange(etcd, expectedRevision: nil, dryRun: false, recordInHistory: false) {
                _,
                currentHash async throws(StatusError) in
                try await etcdRollbackTarget(etcd, hash, current: currentHash)
            }
        }
        return try await oneAtATime { () async throws(StatusError) -> ChangeResponse in
            try await rollbackInTurn(to: hash)
        }
    }

    private func rollbackInTurn(to hash: String?) async throws(StatusError) -> ChangeResponse {
        await catchUpWithFile()
        let target: Int
        if let hash {
            guard
                let index = history.indices.last(where: {
                    history[$0].revision.hash == hash.lowercased() && $0 != cursor
                })
            else {
                throw StatusError(
                    .notFound,
                    "revision '\(hash)' is not kept; kept: \(keptRevisions().map(\.hash).joined(separator: ", "))"
                )
            }
            target = index
        } else {
            guard cursor > 0 else { throw StatusError(.notFound, "no earlier revision is kept") }
            target = cursor - 1
        }
        let kept = history[target]
        let result = try await accept(
            kept.document,
            summary: "rolled back to \(kept.revision.hash)",
            writeBack: .beforePublishing,
            dryRun: false,
            recordInHistory: false
        )
        cursor = target
        return result
    }

    /// The rules file's current content, or one vault of it, as JSON bytes (GetDocument), with
    /// the serving revision. When the file cannot be read, the serving document stands in.
    /// With the etcd source, the document as etcd holds it; the serving one when etcd does not answer.
    func document(vault: String?) async throws(StatusError) -> ([UInt8], Revision) {
        let serving = store.serving
        let revision = serving?.revision ?? Revision(sequence: 0, hash: "")
        let source: [UInt8]?
        if let etcd {
            source = (try? await etcd.read())?.document?.bytes
        } else {
            source = try await blocking { [file] in try? file.read() }
        }
        guard let bytes = source ?? serving?.document else {
            throw StatusError(
                .failedPrecondition,
                "the rules file '\(file.path)' cannot be read and no rules are loaded"
            )
        }
        guard let vault else { return (bytes, revision) }
        guard let document = try? JSONValue(parsing: bytes) else {
            throw StatusError(.failedPrecondition, "the rules file '\(file.path)' is not JSON")
        }
        guard let entry = RuleDocumentEditor(document: document).vault(named: vault) else {
            throw StatusError(.notFound, "no vault '\(vault)'")
        }
        return (Array((entry.serialized(.document) + "\n").utf8), revision)
    }

    func status() -> Status {
        let serving = store.serving
        let now = WallClock.millis()
        let awaitingKeys = readyRequiresKeys ? serving?.tenantsAwaitingKeys ?? [] : []
        let notReadyReason =
            serving == nil
            ? (lastReloadError ?? "no rules loaded")
            : store.freshness.staleness(nowMillis: now)
                ?? (awaitingKeys.isEmpty
                    ? nil
                    : "no signing keys yet for tenant \(awaitingKeys.joined(separator: ", ")) (--ready-requires-keys)")
        return Status(
            ready: notReadyReason == nil,
            notReadyReason: notReadyReason,
            serving: serving,
            rulesFile: file.path,
            uptimeSeconds: UInt64(max(0, now - startedAt) / 1000),
            history: keptRevisions(),
            reloadFailures: reloadFailures,
            lastReloadError: lastReloadError,
            freshness: store.freshness,
            etcd: etcd.map { ($0.source, etcdStale, etcdRevision) }
        )
    }

    /// Records that the rules source confirmed, now, that the serving rules are current: for the
    /// rules file, a look that found it holding what is serving. `--max-snapshot-age` counts from
    /// the last call (docs/running.md, "The stale-rules guard").
    nonisolated func noteSourceConfirmed() {
        let now = WallClock.millis()
        store.freshness.confirm(atMillis: now)
        metrics.rulesConfirmedAt.set(Double(now) / 1000)
    }

    // MARK: - The etcd source (docs/etcd.md)

    /// A reload request: the rules file re-read, or with the etcd source, etcd's document.
    func reloadSource(reason: String) async -> Result<ChangeResponse, StatusError> {
        guard let etcd else { return await reloadFromFile(reason: reason, force: true) }
        let read: EtcdDocumentStore.Read
        do throws(EtcdSourceError) {
            read = try await etcd.read()
        } catch {
            return .failure(Self.statusError(error))
        }
        return await acceptFromEtcd(read.document, reason: reason)
    }

    /// Takes in the document etcd holds (read at start or after a lost watch, or from a watch
    /// event) as a reload takes in the file's, then writes it to the cache. An invalid one is
    /// refused and the serving revision stays; one not newer than the last handled is skipped
    /// (so a revision never goes backwards).
    @discardableResult
    func acceptFromEtcd(
        _ document: EtcdDocumentStore.Stored?,
        reason: String
    ) async -> Result<ChangeResponse, StatusError> {
        await oneAtATime { () async -> Result<ChangeResponse, StatusError> in
            guard let document else {
                return .failure(
                    refuseReload("etcd holds no document under '\(etcd?.prefix ?? "")'", details: [], code: .notFound)
                )
            }
            guard document.modRevision > etcdRevision else { return .success(unchanged()) }
            etcdRevision = document.modRevision
            do throws(StatusError) {
                return .success(
                    try await accept(
                        document.bytes,
                        summary: "etcd revision \(document.modRevision) (\(reason))",
                        writeBack: .cache,
                        dryRun: false
                    )
                )
            } catch {
                return .failure(
                    refuseReload(
                        "the document in etcd (revision \(document.modRevision)) is invalid: \(error.message)",
                        details: error.details
                    )
                )
            }
        }
    }

    /// Refuses etcd's document at `revision` that cannot be followed (a manifest whose chunks are
    /// missing): the serving revision stays and the error shows in status.
    func refuseFromEtcd(_ message: String, revision: Int64) async {
        await oneAtATime { () async in
            guard revision > etcdRevision else { return }
            etcdRevision = revision
            _ = refuseReload("the document in etcd (revision \(revision)) cannot be read: \(message)", details: [])
        }
    }

    /// Records whether the serving rules may be behind etcd (status, `moat_rules_stale`).
    func setEtcdStale(_ stale: Bool) {
        etcdStale = stale
        metrics.rulesStale.set(stale ? 1.0 : 0.0)
    }

    /// A control change with the etcd source: in its turn, read etcd's document, make the change
    /// on it, validate, and commit it with a transaction that holds only while etcd's document is
    /// the one read (retried from the read when it is not); then serve it here. Returns once etcd
    /// committed it and this node serves it.
    ///
    /// `make` gets etcd's current document (nil: none) and its hash, and returns the new document;
    /// an edit builds on `editableBase(current)`, which compiles the current document only then.
    /// With `holding`, the transaction holds only while its comparison holds too; once it no
    /// longer does, the change is refused as it says, nothing changed.
    func etcdChange(
        _ etcd: EtcdDocumentStore,
        expectedRevision: String?,
        dryRun: Bool,
        recordInHistory: Bool = true,
        holding: EtcdCondition? = nil,
        _ make: (_ current: EtcdDocumentStore.Stored?, _ currentHash: String?) async throws(StatusError) -> (
            bytes: [UInt8], summary: String
        )?
    ) async throws(StatusError) -> ChangeResponse {
        try await oneAtATime { () async throws(StatusError) -> ChangeResponse in
            // The last write whose transaction found the document changed. When etcd committed it
            // but its answer was lost (the connection broke, the client asked again and etcd
            // compared against its own commit), etcd now holds this change's document.
            var unconfirmed: (hash: String, rules: LoadedRules, bytes: [UInt8], summary: String)?
            for _ in 0..<Self.etcdAttempts {
                let current: EtcdDocumentStore.Stored?
                do throws(EtcdSourceError) {
                    current = try await etcd.read().document
                } catch {
                    throw Self.statusError(error)
                }
                let currentHash = current.map { RevisionHash.of($0.bytes) }
                if let unconfirmed, let current, currentHash == unconfirmed.hash {
                    return await committedToEtcd(
                        etcd,
                        unconfirmed.rules,
                        unconfirmed.bytes,
                        unconfirmed.summary,
                        revision: current.modRevision
                    )
                }
                try Self.checkExpected(expectedRevision, current: currentHash ?? "")
                guard let made = try await make(current, currentHash) else {
                    return unchanged(summary: "no change: the document already says so")
                }
                let (bytes, summary) = made
                let hash = RevisionHash.of(bytes)
                if let currentHash, hash == currentHash {
                    return unchanged(summary: "no change: etcd's document is revision \(currentHash)")
                }
                let rules = try await compile(bytes)
                if dryRun { return Self.dryRun(rules, summary) }
                let written: Int64?
                var held = true
                do throws(EtcdSourceError) {
                    written = try await etcd.write(
                        bytes,
                        replacing: current?.modRevision ?? 0,
                        holding: holding.map { [$0.compare] } ?? [],
                        recordInHistory: recordInHistory
                    )
                    if written == nil, let holding { held = try await etcd.holds([holding.compare]) }
                } catch {
                    guard error.statusCode == .unavailable else { throw Self.statusError(error) }
                    throw StatusError(
                        .unavailable,
                        "etcd did not confirm the change (had it received it, every node serves it: moatctl fleet status): \(error)"
                    )
                }
                if let holding, !held { throw await holding.refusal() }
                guard let revision = written else {
                    unconfirmed = (hash, rules, bytes, summary)
                    continue
                }
                return await committedToEtcd(etcd, rules, bytes, summary, revision: revision)
            }
            throw StatusError(
                .aborted,
                "etcd's document changed \(Self.etcdAttempts) times while this change was made; nothing was changed"
            )
        }
    }

    /// A comparison an etcd change's transaction holds on beside etcd's document (`etcdChange`),
    /// and the change's refusal once it no longer holds.
    struct EtcdCondition: Sendable {
        let compare: EtcdCompare
        let refusal: @Sendable () async -> StatusError
    }

    /// Serves a change etcd committed at `revision`, then collects what etcd no longer needs.
    private func committedToEtcd(
        _ etcd: EtcdDocumentStore,
        _ rules: LoadedRules,
        _ bytes: [UInt8],
        _ summary: String,
        revision: Int64
    ) async -> ChangeResponse {
        etcdRevision = revision
        let response = await publish(rules, bytes, summary: "\(summary) (etcd revision \(revision))", cache: true)
        Task { [logger] in
            do {
                try await etcd.collectGarbage()
            } catch {
                logger.notice("old documents and chunks in etcd are collected later: \(error)")
            }
        }
        return response
    }

    /// What a change edits: etcd's document when valid; when it is not (or there is none), the
    /// serving one, as a change with the file source edits the serving document, not an invalid file.
    func editableBase(_ current: EtcdDocumentStore.Stored?) async throws(StatusError) -> [UInt8]? {
        guard let current else { return store.serving?.document }
        if current.bytes == store.serving?.document { return current.bytes }
        do {
            _ = try await compile(current.bytes)
            return current.bytes
        } catch {
            return store.serving?.document
        }
    }

    /// The document a rollback goes to: the kept one named, or the one kept before the current
    /// (`current`: the hash of etcd's document).
    private func etcdRollbackTarget(
        _ etcd: EtcdDocumentStore,
        _ hash: String?,
        current: String?
    ) async throws(StatusError) -> (bytes: [UInt8], summary: String) {
        let kept: [(hash: String, bytes: [UInt8])]
        do throws(EtcdSourceError) {
            kept = try await etcd.history()
        } catch {
            throw Self.statusError(error)
        }
        if let hash {
            guard let target = kept.first(where: { $0.hash == hash.lowercased() && $0.hash != current }) else {
                throw StatusError(
                    .notFound,
                    "revision '\(hash)' is not kept in etcd; kept: \(kept.map(\.hash).filter { $0 != current }.joined(separator: ", "))"
                )
            }
            return (target.bytes, "rolled back to \(target.hash)")
        }
        let position = kept.firstIndex { $0.hash == current }.map { $0 + 1 } ?? 0
        guard let target = kept.dropFirst(position).first(where: { $0.hash != current }) else {
            throw StatusError(.notFound, "no earlier document is kept in etcd")
        }
        return (target.bytes, "rolled back to \(target.hash)")
    }

    static func statusError(_ error: EtcdSourceError) -> StatusError {
        StatusError(error.statusCode, "nothing was changed: \(error)")
    }

    // MARK: - Accepting a document

    /// Takes in a valid edit of the rules file the watcher has not reported yet, so that a control
    /// change builds on it rather than overwriting it (one `stat` when nothing changed).
    func catchUpWithFile() async {
        _ = await reload(reason: "before a control change", force: false)
    }

    /// Writes a document back to the rules file; on failure nothing changed (docs/protocol.md
    /// "Status codes").
    private func writeRulesFile(_ bytes: [UInt8]) async throws(StatusError) {
        let written = try await blocking { [file] in
            Result { () throws(RulesFileError) in try file.replace(with: bytes) }
        }
        switch written {
        case .success(let fingerprint):
            lastLook = .present(fingerprint)
            fileHoldsServing = true
            noteSourceConfirmed()
        case .failure(let error):
            let code: StatusCode =
                switch error.code {
                case .notWritable: .failedPrecondition
                case .noSpace: .resourceExhausted
                case .ioError: .unavailable
                case .notFound, .unreadable, .writeFailed: .internalError
                }
            throw StatusError(code, "the change was not made: \(error.message)")
        }
    }

    private func keptRevisions() -> [Revision] {
        history.indices.reversed().filter { $0 != cursor }.map { history[$0].revision }
    }

    /// Refuses a change when the caller expects another revision than `current` (a hash).
    static func checkExpected(_ expected: String?, current: String) throws(StatusError) {
        guard let expected, !expected.isEmpty else { return }
        guard expected.lowercased() == current else {
            throw StatusError(
                .aborted,
                "expected revision \(expected), but the current revision is \(current.isEmpty ? "none" : current)"
            )
        }
    }

    private func unchanged(summary: String = "no change") -> ChangeResponse {
        ChangeResponse(
            changed: false,
            revision: store.serving?.revision ?? Revision(sequence: 0, hash: ""),
            summary: summary
        )
    }

    /// How an accepted document reaches the rules file.
    enum WriteBack {
        /// Not at all: it came from the file.
        case none
        /// Before it takes effect, and a failure refuses it: the file is the source of truth.
        case beforePublishing
        /// After it takes effect, a failure only logged: the file is the etcd source's cache.
        case cache
    }

    /// Validates, writes back (for control changes), publishes. An unchanged hash is not a new revision.
    private func accept(
        _ bytes: [UInt8],
        summary: String,
        writeBack: WriteBack,
        dryRun: Bool,
        recordInHistory: Bool = true
    ) async throws(StatusError) -> ChangeResponse {
        let hash = RevisionHash.of(bytes)
        if let serving = store.serving, serving.revision.hash == hash {
            // No new revision; but a file that lost it (deleted, or edited into something invalid)
            // gets it back, so that a restart finds what is serving.
            if writeBack == .beforePublishing && !dryRun,
                try await blocking({ [file] in (try? file.read()).map(RevisionHash.of) }) != hash
            {
                try await writeRulesFile(bytes)
                return unchanged(
                    summary: "no change: the document is revision \(serving.revision.hash); rules file restored"
                )
            }
            return unchanged(summary: "no change: the document is revision \(serving.revision.hash)")
        }
        let rules = try await compile(bytes)
        if dryRun { return Self.dryRun(rules, summary) }
        if writeBack == .beforePublishing { try await writeRulesFile(bytes) }
        return await publish(
            rules,
            bytes,
            summary: summary,
            cache: writeBack == .cache,
            recordInHistory: recordInHistory
        )
    }

    /// `bytes` validated and compiled as the next revision, on the pool (a large document takes
    /// up to a second).
    func compile(_ bytes: [UInt8]) async throws(StatusError) -> LoadedRules {
        let sequence = (store.serving?.revision.sequence ?? 0) + 1
        let compiled = try await blocking {
            Result { () throws(DocumentError) in try LoadedRules(json: bytes, sequence: sequence) }
        }
        switch compiled {
        case .success(let loaded): return loaded
        case .failure(let error):
            throw StatusError(
                .invalidArgument,
                "the document is invalid (\(error.errors.count) error\(error.errors.count == 1 ? "" : "s"))",
                details: error.errors
            )
        }
    }

    private static func dryRun(_ rules: LoadedRules, _ summary: String) -> ChangeResponse {
        ChangeResponse(
            changed: true,
            revision: rules.snapshot.revision,
            summary: "dry run: valid; \(summary) would make revision \(rules.snapshot.revision.hash)"
        )
    }

    /// Makes `rules` the serving revision; with `cache`, then writes the document to the rules
    /// file (the etcd source's cache; a failure is logged, the revision serves all the same).
    private func publish(
        _ rules: LoadedRules,
        _ bytes: [UInt8],
        summary: String,
        cache: Bool,
        recordInHistory: Bool = true
    ) async -> ChangeResponse {
        let state = ServingState(rules: rules, document: bytes, loadedAtMillis: WallClock.millis())
        store.publish(state)
        if recordInHistory {
            if cursor >= 0 { history.removeSubrange((cursor + 1)...) }
            history.append(Kept(document: bytes, revision: state.revision))
            if history.count > Self.keptRevisions + 1 { history.removeFirst(history.count - Self.keptRevisions - 1) }
            cursor = history.count - 1
        }
        lastReloadError = nil
        metrics.reloadSuccesses.increment()
        metrics.snapshotSequence.set(Double(state.revision.sequence))
        metrics.snapshotLoadedAt.set(Double(state.loadedAtMillis) / 1000)
        let counts = rules.snapshot.counts
        logger.info(
            "\(summary): serving revision \(state.revision)",
            metadata: [
                "vaults": "\(counts.vaults)", "ipRules": "\(counts.ipRules)",
                "accessPolicies": "\(counts.accessPolicies)",
            ]
        )
        await shadowFollowServing(state)
        if cache {
            do throws(StatusError) {
                try await writeRulesFile(bytes)
            } catch {
                logger.warning("cannot write the rules cache '\(file.path)': \(error.message)")
            }
        }
        return ChangeResponse(changed: true, revision: state.revision, summary: summary)
    }

    static func describe(_ change: DocumentChange) -> String {
        switch change {
        case .addIpRule(let vault, let value): "added IP rule \(value) to \(vault)"
        case .removeIpRule(let vault, let value): "removed IP rule \(value) from \(vault)"
        case .addVirtualNetworkRule(let vault, let id, _): "added virtual network rule \(id) to \(vault)"
        case .removeVirtualNetworkRule(let vault, let id): "removed virtual network rule \(id) from \(vault)"
        case .updateNetwork(let vault, let action, let bypass, let access):
            "updated \(vault): "
                + [
                    action.map { "defaultAction=\($0)" }, bypass.map { "bypass=\($0)" },
                    access.map { "publicNetworkAccess=\($0)" },
                ].compactMap { $0 }.joined(separator: " ")
        case .setAccessPolicy(let vault, let objectId, let applicationId, _):
            "set access policy for \(objectId)\(applicationId.map { "/\($0)" } ?? "") on \(vault)"
        case .deleteAccessPolicy(let vault, let objectId, let applicationId):
            "deleted access policy for \(objectId)\(applicationId.map { "/\($0)" } ?? "") on \(vault)"
        case .upsertVaults(let value, let createOnly):
            createOnly && value.arrayValue == nil
                ? "added vault \(value["name"]?.stringValue ?? "")"
                : "imported \(value.arrayValue?.count ?? 1) vault\(value.arrayValue?.count ?? 1 == 1 ? "" : "s")"
        case .deleteVault(let name): "removed vault \(name)"
        }
    }
}
