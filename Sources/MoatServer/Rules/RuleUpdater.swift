public import Logging
public import MoatCore
import MoatIdentity
public import MoatWire
import Prometheus

/// Every change to the serving rules goes through here, one at a time: reloads of the rules file,
/// pushes and changes from the control socket, rollbacks.
///
/// A new document is validated and compiled here, off the request path; when it comes from the
/// control socket it is written back to the rules file (atomically) before it takes effect, so a
/// restart always finds what was last accepted. Then one atomic store publishes it.
public actor RuleUpdater {
    /// What `Status` reports.
    public struct Status: Sendable {
        public var ready: Bool
        public var notReadyReason: String?
        public var serving: ServingState?
        public var rulesFile: String
        public var uptimeSeconds: UInt64
        /// Kept revisions other than the current one, newest first.
        public var history: [Revision]
        public var reloadFailures: UInt64
        public var lastReloadError: String?
    }

    /// A document kept for rollback.
    private struct Kept {
        var document: [UInt8]
        var revision: Revision
    }

    /// Revisions kept before the current one: five.
    public static let keptRevisions = 5

    public let file: RulesFile
    private let store: RuleStore
    private let metrics: ServerMetrics
    private let logger: Logger
    private let startedAt = WallClock.millis()
    private var history: [Kept] = []
    /// Position of the serving document in `history`; rollbacks move it back.
    private var cursor = -1
    /// What the last look at the rules file found (`nil` before the first look): a reload that
    /// finds the same again does nothing, so a missing file is reported once, not at every poll.
    private var lastLook: Look?

    private enum Look: Equatable {
        case missing
        case present(RulesFile.Fingerprint)

        init(_ file: RulesFile) {
            self = file.fingerprint().map(Look.present) ?? .missing
        }
    }
    private var reloadFailures: UInt64 = 0
    private var lastReloadError: String?

    public init(file: RulesFile, store: RuleStore, metrics: ServerMetrics, logger: Logger) {
        self.file = file
        self.store = store
        self.metrics = metrics
        self.logger = logger
    }

    // MARK: - The rules file

    /// Re-reads the rules file when it changed since the last look (or always, when `force`).
    /// An invalid or missing file keeps the serving revision; the problem is logged and counted.
    @discardableResult
    public func reloadFromFile(reason: String, force: Bool = false) -> Result<ChangeResponse, StatusError> {
        let look = Look(file)
        if !force && look == lastLook { return .success(unchanged()) }
        lastLook = look
        let bytes: [UInt8]
        do {
            bytes = try file.read()
        } catch {
            return .failure(
                refuseReload(
                    error.message,
                    details: [],
                    code: error.code == .notFound ? .notFound : .failedPrecondition
                )
            )
        }
        do {
            return .success(
                try accept(bytes, summary: "reloaded '\(file.path)' (\(reason))", writeBack: false, dryRun: false)
            )
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
    public func put(_ bytes: [UInt8], expectedRevision: String?, dryRun: Bool) throws(StatusError) -> ChangeResponse {
        catchUpWithFile()
        try checkExpected(expectedRevision)
        return try accept(bytes, summary: "document replaced", writeBack: true, dryRun: dryRun)
    }

    /// Applies one change to the current document (ApplyChange).
    public func apply(
        _ change: DocumentChange,
        expectedRevision: String?,
        dryRun: Bool
    ) throws(StatusError) -> ChangeResponse {
        catchUpWithFile()
        try checkExpected(expectedRevision)
        let base: JSONValue
        if let serving = store.serving {
            // The serving bytes parsed when they were accepted; failing now would be a bug, and
            // editing an empty document instead would erase every vault.
            guard let parsed = try? JSONValue(parsing: serving.document) else {
                throw StatusError(.internalError, "the serving document no longer parses")
            }
            base = parsed
        } else if file.fingerprint() == nil {
            base = .object([])
        } else {
            throw StatusError(
                .failedPrecondition,
                "no valid rules are loaded (\(lastReloadError ?? "the rules file is invalid")); fix the file or push a whole document"
            )
        }
        var editor = RuleDocumentEditor(document: base)
        let changed: Bool
        do {
            changed = try editor.apply(change)
        } catch {
            throw StatusError(error.kind == .notFound ? .notFound : .invalidArgument, error.message)
        }
        guard changed else { return unchanged(summary: "no change: the document already says so") }
        let bytes = Array((editor.document.serialized(.document) + "\n").utf8)
        return try accept(bytes, summary: Self.describe(change), writeBack: true, dryRun: dryRun)
    }

    /// Returns to a kept revision: the one before the current (`hash` nil) or the one named.
    public func rollback(to hash: String?) throws(StatusError) -> ChangeResponse {
        catchUpWithFile()
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
        let result = try accept(
            kept.document,
            summary: "rolled back to \(kept.revision.hash)",
            writeBack: true,
            dryRun: false,
            recordInHistory: false
        )
        cursor = target
        return result
    }

    /// The rules file's current content, or one vault of it, as JSON bytes (GetDocument), with
    /// the serving revision. When the file cannot be read, the serving document stands in.
    public func document(vault: String?) throws(StatusError) -> ([UInt8], Revision) {
        let serving = store.serving
        let revision = serving?.revision ?? Revision(sequence: 0, hash: "")
        guard let bytes = (try? file.read()) ?? serving?.document else {
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

    public func status() -> Status {
        let serving = store.serving
        return Status(
            ready: serving != nil,
            notReadyReason: serving == nil ? (lastReloadError ?? "no rules loaded") : nil,
            serving: serving,
            rulesFile: file.path,
            uptimeSeconds: UInt64(max(0, WallClock.millis() - startedAt) / 1000),
            history: keptRevisions(),
            reloadFailures: reloadFailures,
            lastReloadError: lastReloadError
        )
    }

    // MARK: - Accepting a document

    /// Takes in a valid edit of the rules file the watcher has not reported yet, so that a control
    /// change builds on it rather than overwriting it (one `stat` when nothing changed).
    private func catchUpWithFile() {
        reloadFromFile(reason: "before a control change")
    }

    /// Writes a document back to the rules file; on failure nothing changed (docs/protocol.md
    /// "Status codes").
    private func writeRulesFile(_ bytes: [UInt8]) throws(StatusError) {
        do {
            lastLook = .present(try file.replace(with: bytes))
        } catch {
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

    private func checkExpected(_ expected: String?) throws(StatusError) {
        guard let expected, !expected.isEmpty else { return }
        let current = store.serving?.revision.hash ?? ""
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

    /// Validates, writes back (for control changes), publishes. An unchanged hash is not a new revision.
    private func accept(
        _ bytes: [UInt8],
        summary: String,
        writeBack: Bool,
        dryRun: Bool,
        recordInHistory: Bool = true
    ) throws(StatusError) -> ChangeResponse {
        let hash = RevisionHash.of(bytes)
        if let serving = store.serving, serving.revision.hash == hash {
            // No new revision; but a file that lost it (deleted, or edited into something invalid)
            // gets it back, so that a restart finds what is serving.
            if writeBack && !dryRun && (try? file.read()).map(RevisionHash.of) != hash {
                try writeRulesFile(bytes)
                return unchanged(
                    summary: "no change: the document is revision \(serving.revision.hash); rules file restored"
                )
            }
            return unchanged(summary: "no change: the document is revision \(serving.revision.hash)")
        }
        let rules: LoadedRules
        do {
            rules = try LoadedRules(json: bytes, sequence: (store.serving?.revision.sequence ?? 0) + 1)
        } catch {
            throw StatusError(
                .invalidArgument,
                "the document is invalid (\(error.errors.count) error\(error.errors.count == 1 ? "" : "s"))",
                details: error.errors
            )
        }
        if dryRun {
            return ChangeResponse(
                changed: true,
                revision: rules.snapshot.revision,
                summary: "dry run: valid; \(summary) would make revision \(hash)"
            )
        }
        if writeBack { try writeRulesFile(bytes) }
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
