import Atomics
import MoatCore
import MoatIdentity

/// What checks are answered from: an accepted document, compiled, with its verifier. Immutable;
/// replaced as a whole by one atomic store (`RuleStore`).
final class ServingState: AtomicReference, Sendable {
    let rules: LoadedRules
    /// The document's bytes as read or pushed (what `GetDocument` returns).
    let document: [UInt8]
    /// When the revision was accepted, Unix milliseconds.
    let loadedAtMillis: Int64

    var snapshot: Snapshot { rules.snapshot }
    var revision: Revision { rules.snapshot.revision }

    init(rules: LoadedRules, document: [UInt8], loadedAtMillis: Int64) {
        self.rules = rules
        self.document = document
        self.loadedAtMillis = loadedAtMillis
    }
}

/// The current serving state, read by every check with one atomic load; `nil` until a valid
/// document has been loaded. With it, when its source last confirmed it current (`freshness`).
final class RuleStore: Sendable {
    private let current = ManagedAtomic<ServingState?>(nil)
    let freshness: RulesFreshness

    init(freshness: RulesFreshness = RulesFreshness()) {
        self.freshness = freshness
    }

    var serving: ServingState? {
        current.load(ordering: .acquiring)
    }

    func publish(_ state: ServingState) {
        current.store(state, ordering: .releasing)
    }
}
