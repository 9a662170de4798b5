import Logging
import MoatCore
import MoatIdentity
import MoatWire

/// Shadow rule sets (docs/protocol.md, "Shadow rule sets"): a candidate document judged beside the
/// serving one, made and changed in the updater's turn like any change, so it always builds on
/// the serving document of the moment.
extension RuleUpdater {
    /// ShadowPush: `bytes` validated like a pushed document and loaded as the candidate (replacing
    /// any), not served.
    func pushShadow(_ bytes: [UInt8], sampleRate: Double?) async throws(StatusError) -> ChangeResponse {
        let rate = sampleRate ?? 1
        try ShadowCandidate.checkSampleRate(rate)
        return try await oneAtATime { () async throws(StatusError) -> ChangeResponse in
            let serving = try await servingForShadow()
            let candidate = ShadowCandidate(
                rules: try await compile(bytes),
                document: bytes,
                base: serving.revision,
                changes: nil,
                sampleRate: rate,
                judge: ShadowJudge(metrics: metrics)
            )
            return install(candidate, summary: "pushed")
        }
    }

    /// ApplyChange with `shadow`: `change` made on the candidate, or on a copy of the serving
    /// document when none is loaded. A candidate built by changes alone is rebased when the serving
    /// document changes; one built on a pushed candidate is not.
    func applyToShadow(
        _ change: DocumentChange,
        expectedRevision: String?,
        dryRun: Bool
    ) async throws(StatusError) -> ChangeResponse {
        try await oneAtATime { () async throws(StatusError) -> ChangeResponse in
            let serving = try await servingForShadow()
            try Self.checkExpected(expectedRevision, current: serving.revision.hash)
            let current = store.shadow.candidate
            try Self.refuseFleet(current, "network-rule … --shadow --fleet")
            guard let bytes = try await edited(current?.document ?? serving.document, [change]) else {
                return ChangeResponse(
                    changed: false,
                    revision: current?.revision ?? serving.revision,
                    summary:
                        "no change: the \(current == nil ? "serving document" : "shadow candidate") already says so"
                )
            }
            let rules = try await compile(bytes)
            if dryRun {
                return ChangeResponse(
                    changed: true,
                    revision: rules.snapshot.revision,
                    summary:
                        "dry run: valid; \(Self.describe(change)) would make shadow candidate \(rules.snapshot.revision.hash)"
                )
            }
            let changes: [DocumentChange]? = current.map { $0.changes.map { $0 + [change] } } ?? [change]
            let candidate = ShadowCandidate(
                rules: rules,
                document: bytes,
                base: current?.base ?? serving.revision,
                changes: changes,
                sampleRate: current?.sampleRate ?? 1,
                judge: ShadowJudge(metrics: metrics)
            )
            return install(candidate, summary: Self.describe(change))
        }
    }

    /// ShadowPromote: the candidate made the serving document through PutDocument's path, only
    /// while the serving revision is the one it was built on (compare-and-swap); a candidate built
    /// by changes is rebased by every serving change, so it is promoted onto the latest.
    func promoteShadow(maximumFlips: UInt64?) async throws(StatusError) -> ChangeResponse {
        // A rebase made while this runs replaces the candidate: try the rebased one.
        for _ in 0..<Self.promoteAttempts {
            guard let candidate = store.shadow.candidate else {
                throw StatusError(
                    .failedPrecondition,
                    "no shadow candidate is loaded (moatctl shadow push FILE); nothing was changed"
                )
            }
            try Self.refuseFleet(candidate, "shadow promote --fleet")
            await candidate.judge.settle()
            let summary = candidate.summary(serving: store.serving?.revision)
            try summary.checkFlips(
                within: maximumFlips,
                of: "the shadow candidate \(candidate.revision.hash)",
                report: "moatctl shadow report"
            )
            if summary.baseChanged && candidate.changes == nil {
                throw StatusError(
                    .aborted,
                    "the shadow candidate was pushed on revision \(candidate.base), but revision \(store.serving?.revision.description ?? "none") is serving now; nothing was changed: push the candidate again, built on the serving document"
                )
            }
            let response: ChangeResponse
            do {
                response = try await put(candidate.document, expectedRevision: candidate.base.hash, dryRun: false)
            } catch  where error.code == .aborted && candidate.changes != nil {
                // The serving document changed: the candidate was rebased (or dropped) in that turn.
                continue
            }
            store.shadow.remove(candidate)
            logger.notice(
                "promoted the shadow candidate \(candidate.revision.hash) (\(summary.compared) checks compared, \(summary.flips) flips): serving revision \(response.revision)"
            )
            return ChangeResponse(
                changed: response.changed,
                revision: response.revision,
                summary:
                    "promoted the shadow candidate (\(summary.compared) checks compared, \(summary.flips) flips): \(response.summary)"
            )
        }
        throw StatusError(
            .aborted,
            "the serving document changed \(Self.promoteAttempts) times while the shadow candidate was promoted; nothing was changed"
        )
    }

    /// Attempts of a promote whose candidate is rebased meanwhile.
    static let promoteAttempts = 5

    /// ShadowDrop.
    func dropShadow() async throws(StatusError) -> ChangeResponse {
        try await oneAtATime { () async throws(StatusError) -> ChangeResponse in
            let serving = store.serving?.revision ?? Revision(sequence: 0, hash: "")
            guard let candidate = store.shadow.candidate else {
                return ChangeResponse(changed: false, revision: serving, summary: "no shadow candidate was loaded")
            }
            try Self.refuseFleet(candidate, "shadow drop --fleet")
            store.shadow.install(nil)
            let counts = candidate.judge.counts()
            logger.notice("dropped the shadow candidate \(candidate.revision.hash)")
            return ChangeResponse(
                changed: true,
                revision: serving,
                summary:
                    "dropped the shadow candidate \(candidate.revision.hash) (\(counts.compared) checks compared, \(counts.flips) flips)"
            )
        }
    }

    /// A node-local promote, drop or change refused while the fleet's candidate is loaded: it would
    /// act on the fleet's candidate on this node alone (docs/etcd.md, "A fleet's shadow candidate").
    /// A node-local push still replaces it on this node.
    private static func refuseFleet(_ candidate: ShadowCandidate?, _ instead: String) throws(StatusError) {
        guard let candidate, candidate.fleet != nil else { return }
        throw StatusError(
            .failedPrecondition,
            "the loaded shadow candidate \(candidate.revision.hash) is the fleet's: use --fleet (moatctl \(instead)); nothing was changed"
        )
    }

    /// ShadowReport: every check decided before the call is in it.
    nonisolated func shadowReport() async -> ShadowReportResponse {
        guard let candidate = store.shadow.candidate else { return ShadowReportResponse(summary: nil) }
        await candidate.judge.settle()
        let (groups, otherFlips, otherReasonChanged) = candidate.judge.groups()
        return ShadowReportResponse(
            summary: candidate.summary(serving: store.serving?.revision),
            groups: groups,
            otherFlips: otherFlips,
            otherReasonChanged: otherReasonChanged
        )
    }

    /// The candidate after the serving document became `serving` (called in the turn that
    /// published it): cleared when it is what now serves; rebased when built by changes (dropped
    /// when they no longer apply); kept, but no longer promotable, when pushed. Each with a log line.
    func shadowFollowServing(_ serving: ServingState) async {
        guard let candidate = store.shadow.candidate, candidate.base.hash != serving.revision.hash else { return }
        if candidate.revision.hash == serving.revision.hash {
            store.shadow.install(nil)
            logger.notice("the shadow candidate \(candidate.revision.hash) is serving now; no candidate is loaded")
            return
        }
        guard let changes = candidate.changes else {
            logger.warning(
                "the serving document changed to revision \(serving.revision); the shadow candidate \(candidate.revision.hash), pushed on revision \(candidate.base), is still judged but will not be promoted: push it again or drop it"
            )
            return
        }
        do throws(StatusError) {
            guard let bytes = try await edited(serving.document, changes) else {
                store.shadow.install(nil)
                logger.notice(
                    "the serving document changed to revision \(serving.revision), which already makes the shadow candidate's changes; the candidate was dropped"
                )
                return
            }
            let rebased = ShadowCandidate(
                rules: try await compile(bytes),
                document: bytes,
                base: serving.revision,
                changes: changes,
                sampleRate: candidate.sampleRate,
                judge: candidate.judge,
                fleet: candidate.fleet
            )
            store.shadow.install(rebased)
            logger.notice(
                "the serving document changed to revision \(serving.revision); the shadow candidate was rebased onto it (\(changes.count) change\(changes.count == 1 ? "" : "s") replayed): candidate \(rebased.revision.hash)"
            )
        } catch {
            store.shadow.install(nil)
            logger.warning(
                "the serving document changed to revision \(serving.revision); the shadow candidate \(candidate.revision.hash) was dropped: its changes no longer apply (\(error.message))"
            )
        }
    }

    /// The serving state a candidate is built beside, after any unreported edit of the rules file.
    func servingForShadow() async throws(StatusError) -> ServingState {
        if etcd == nil { await catchUpWithFile() }
        guard let serving = store.serving else {
            throw StatusError(
                .failedPrecondition,
                "no rules are serving: a shadow candidate is compared with the serving document; nothing was changed"
            )
        }
        return serving
    }

    /// `changes` made in turn on `document`, on the pool; nil when the document already said so.
    func edited(_ document: [UInt8], _ changes: [DocumentChange]) async throws(StatusError) -> [UInt8]? {
        try await blocking { () -> Result<[UInt8]?, StatusError> in
            Result { () throws(StatusError) -> [UInt8]? in
                var bytes = document
                var changed = false
                for change in changes {
                    guard let next = try Self.edit(bytes, with: change) else { continue }
                    bytes = next
                    changed = true
                }
                return changed ? bytes : nil
            }
        }.get()
    }

    private func install(_ candidate: ShadowCandidate, summary: String) -> ChangeResponse {
        if let replaced = store.shadow.candidate, replaced.fleet != nil {
            logger.notice(
                "the node-local shadow candidate replaces the fleet's \(replaced.revision.hash) on this node (the fleet's is still in etcd)"
            )
        }
        store.shadow.install(candidate)
        logger.notice(
            "shadow candidate \(candidate.revision.hash) loaded (\(summary)) beside serving revision \(candidate.base), sample rate \(candidate.sampleRate)"
        )
        return ChangeResponse(
            changed: true,
            revision: candidate.revision,
            summary:
                "shadow candidate \(candidate.revision.hash) loaded (\(summary)) beside serving revision \(candidate.base.hash), sample rate \(candidate.sampleRate); judged, not served, not kept across restarts"
        )
    }
}

extension ShadowSummary {
    /// Refuses a promote (FAILED_PRECONDITION, naming the counts) when more than `maximumFlips`
    /// checks flipped; `candidate` names it, `report` is the command that lists the flips.
    func checkFlips(within maximumFlips: UInt64?, of candidate: String, report: String) throws(StatusError) {
        guard let maximumFlips, flips > maximumFlips else { return }
        throw StatusError(
            .failedPrecondition,
            "\(candidate) flips \(flips) of \(compared) checks compared (\(allowToDeny) allow→deny, \(denyToAllow) deny→allow), more than the \(maximumFlips) allowed; nothing was changed (\(report))"
        )
    }
}
