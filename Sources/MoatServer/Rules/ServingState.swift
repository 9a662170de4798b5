import Atomics
import MoatCore
import MoatIdentity
import Synchronization

/// What checks are answered from: an accepted document, compiled, with the fetched key sets in
/// force and a verifier holding both. Immutable; replaced as a whole by one atomic store (`RuleStore`).
final class ServingState: AtomicReference, Sendable {
    let rules: LoadedRules
    /// The document's bytes as read or pushed (what `GetDocument` returns).
    let document: [UInt8]
    /// When the revision was accepted, Unix milliseconds.
    let loadedAtMillis: Int64
    /// The fetched key sets, versioned apart from the rules (`docs/semantics.md`, "Signing keys kept current").
    let keys: FetchedKeys
    /// The document's keys and, for each tenant with a key source, the set fetched from that source.
    let verifier: JWTVerifier

    var snapshot: Snapshot { rules.snapshot }
    var revision: Revision { rules.snapshot.revision }

    init(rules: LoadedRules, document: [UInt8], loadedAtMillis: Int64, keys: FetchedKeys = .none) {
        self.rules = rules
        self.document = document
        self.loadedAtMillis = loadedAtMillis
        self.keys = keys
        let sources: [String: KeySource] = Dictionary(
            rules.snapshot.tenants.compactMap { tenant in tenant.source.map { (tenant.tenantId, $0) } },
            uniquingKeysWith: { first, _ in first }
        )
        guard !sources.isEmpty else {
            self.verifier = rules.verifier
            return
        }
        let fetched: [TenantKeySet] = keys.sets.values.filter { sources[$0.set.tenantId] == $0.source }.map(\.set)
        // Only tenants whose keys come over the network refresh on an unknown kid.
        let refreshed = Set(sources.filter { $0.value.isFetched }.keys)
        var unknownKey: (@Sendable (String) -> Void)?
        if let gate = keys.unknownKey, !refreshed.isEmpty {
            unknownKey = { tenant in if refreshed.contains(tenant) { gate.missed(tenant) } }
        }
        self.verifier = rules.verifier.adding(fetched, unknownKey: unknownKey)
    }

    /// The same rules with other key sets.
    func with(_ keys: FetchedKeys) -> ServingState {
        ServingState(rules: rules, document: document, loadedAtMillis: loadedAtMillis, keys: keys)
    }

    /// Tenants whose key source has given no key set yet (`--ready-requires-keys`), in document order.
    var tenantsAwaitingKeys: [String] {
        snapshot.tenants.filter { tenant in
            guard let source = tenant.source else { return false }
            return keys.sets[tenant.tenantId]?.source != source
        }.map(\.tenantId)
    }
}

/// The current serving state, read by every check with one atomic load; `nil` until a valid
/// document has been loaded. With it, when its source last confirmed it current (`freshness`).
/// New rules and new key sets are published through here, one at a time, each combined with the
/// latest of the other.
final class RuleStore: Sendable {
    private let current = ManagedAtomic<ServingState?>(nil)
    let freshness: RulesFreshness
    /// The shadow candidate judged beside the serving rules (docs/protocol.md, "Shadow rule sets").
    let shadow = ShadowSlot()
    /// The latest key sets; the lock also serializes publishers (never taken by a check).
    private let latestKeys = Mutex(FetchedKeys.none)

    init(freshness: RulesFreshness = RulesFreshness()) {
        self.freshness = freshness
    }

    var serving: ServingState? {
        current.load(ordering: .acquiring)
    }

    /// Publishes new rules, with the key sets in force.
    func publish(_ state: ServingState) {
        latestKeys.withLock { keys in
            current.store(state.with(keys), ordering: .releasing)
        }
    }

    /// Publishes new key sets under the serving rules.
    func publish(_ keys: FetchedKeys) {
        latestKeys.withLock { latest in
            latest = keys
            if let serving = current.load(ordering: .acquiring) {
                current.store(serving.with(keys), ordering: .releasing)
            }
        }
    }
}
