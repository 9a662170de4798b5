public import Atomics
public import MoatCore
public import MoatIdentity

/// What checks are answered from: an accepted document, compiled, with its verifier. Immutable;
/// replaced as a whole by one atomic store (`RuleStore`).
public final class ServingState: AtomicReference, Sendable {
    public let rules: LoadedRules
    /// The document's bytes as read or pushed (what `GetDocument` returns).
    public let document: [UInt8]
    /// When the revision was accepted, Unix milliseconds.
    public let loadedAtMillis: Int64

    public var snapshot: Snapshot { rules.snapshot }
    public var revision: Revision { rules.snapshot.revision }

    init(rules: LoadedRules, document: [UInt8], loadedAtMillis: Int64) {
        self.rules = rules
        self.document = document
        self.loadedAtMillis = loadedAtMillis
    }
}

/// The current serving state, read by every check with one atomic load; `nil` until a valid
/// document has been loaded.
public final class RuleStore: Sendable {
    private let current = ManagedAtomic<ServingState?>(nil)

    public init() {}

    public var serving: ServingState? {
        current.load(ordering: .acquiring)
    }

    func publish(_ state: ServingState) {
        current.store(state, ordering: .releasing)
    }
}
