import Logging
import MoatCore
import MoatIdentity
import MoatWire

/// The fleet's shadow candidate on this node (docs/etcd.md, "A fleet's shadow candidate"): loaded,
/// dropped and promoted in the updater's turn, like a node-local one (`RuleUpdater+Shadow`).
extension RuleUpdater {
    /// Loads the fleet's candidate `entry` (its document resolved: `document`), validated and
    /// compiled like a pushed one, replacing any candidate. Built by changes on another revision
    /// than this node serves, it is rebased: its changes replayed on the serving document, as
    /// `shadowFollowServing` does. Throws why it cannot be loaded.
    func loadFleetShadow(
        _ entry: FleetShadowEntry,
        document: [UInt8],
        mark: ShadowCandidate.FleetMark
    ) async throws(StatusError) {
        try await oneAtATime { () async throws(StatusError) in
            let rate = entry.sampleRate == 0 ? 1 : entry.sampleRate
            try ShadowCandidate.checkSampleRate(rate)
            guard RevisionHash.of(document) == entry.candidateHash else {
                throw StatusError(
                    .invalidArgument,
                    "the candidate's document is not revision \(entry.candidateHash), as its entry says"
                )
            }
            let serving = try await servingForShadow()
            var bytes = document
            var base = Revision(sequence: 0, hash: entry.baseHash)
            if serving.revision.hash == entry.baseHash {
                base = serving.revision
            } else if let changes = entry.changes {
                guard let rebased = try await edited(serving.document, changes) else {
                    throw StatusError(
                        .failedPrecondition,
                        "the serving revision \(serving.revision.hash) already makes the candidate's changes"
                    )
                }
                bytes = rebased
                base = serving.revision
            }
            let candidate = ShadowCandidate(
                rules: try await compile(bytes),
                document: bytes,
                base: base,
                changes: entry.changes,
                sampleRate: rate,
                judge: ShadowJudge(metrics: metrics),
                fleet: mark
            )
            if let replaced = store.shadow.candidate, replaced.fleet == nil {
                logger.notice("the fleet's shadow candidate replaces the node-local one \(replaced.revision.hash)")
            }
            store.shadow.install(candidate)
            logger.notice(
                "loaded the fleet's shadow candidate \(entry.candidateHash) (etcd revision \(mark.modRevision), put by \(entry.putBy)) as \(candidate.revision.hash) beside serving revision \(serving.revision), sample rate \(rate)"
            )
        }
    }

    /// Drops the candidate if it is the fleet's (its key was deleted, or it was replaced by one
    /// this node cannot load).
    func dropFleetShadow(because reason: String) async {
        await oneAtATime { () async in
            guard let candidate = store.shadow.candidate, candidate.fleet != nil else { return }
            store.shadow.install(nil)
            logger.notice("dropped the fleet's shadow candidate \(candidate.revision.hash): \(reason)")
        }
    }

    /// Makes the fleet's candidate (`document`, built as `entry` says) `etcd`'s document through the
    /// normal etcd change path, compared-and-swapped against its base and held on `candidate` (the
    /// candidate key as the promote read it: a candidate put or dropped meanwhile is not
    /// committed); when etcd's document changed since, a candidate built by changes has them
    /// replayed on it, a pushed one is refused (ABORTED).
    func promoteFleetShadow(
        _ entry: FleetShadowEntry,
        in etcd: EtcdDocumentStore,
        document: [UInt8],
        holding candidate: EtcdCondition
    ) async throws(StatusError) -> ChangeResponse {
        let summary = "promoted the fleet's shadow candidate \(entry.candidateHash)"
        return try await etcdChange(etcd, expectedRevision: nil, dryRun: false, holding: candidate) {
            current,
            currentHash async throws(StatusError) in
            if (currentHash ?? "") == entry.baseHash { return (document, summary) }
            guard let changes = entry.changes else {
                throw StatusError(
                    .aborted,
                    "the fleet's shadow candidate was pushed on revision \(entry.baseHash), but etcd's document is now \(currentHash ?? "none"); nothing was changed: push the candidate again, built on etcd's document"
                )
            }
            let base = try await editableBase(current) ?? []
            return try await edited(base, changes).map {
                ($0, "\(summary), its changes replayed on \(currentHash ?? "none")")
            }
        }
    }
}
