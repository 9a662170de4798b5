import MoatCore
import NIOCore
import Synchronization

/// Recent decisions, so that a service asking the same question many times a second asks the
/// daemon once. Keyed by every field that decides (vault, operation, object, source, subnet,
/// private endpoint, token, asserted identity); entries live at most `timeToLive` (default 1 s);
/// the whole cache is dropped as soon as an answer shows a new revision, so a revoked grant is not
/// served for longer than that. "Could not decide" is never cached.
final class DecisionCache: Sendable {
    /// A request's deciding fields; built once per check, outside the lock.
    ///
    /// Two keys are equal only when the daemon could not tell the requests apart: the vault name
    /// with ASCII letters folded, as the daemon looks it up (U+212A KELVIN SIGN is not `k`),
    /// every other text byte for byte (Swift's `==` would equate canonically equivalent texts).
    struct Key: Hashable {
        var vault: CaseInsensitiveKey
        var operation: Operation?
        var objectName: String
        var sourceAddress: String
        var subnetId: String
        var privateEndpointId: String
        var token: String
        var assertedIdentity: AssertedIdentity?

        init(_ request: CheckRequest) {
            vault = CaseInsensitiveKey(request.vault)
            operation = request.operation
            objectName = request.objectName
            sourceAddress = request.sourceAddress
            subnetId = request.subnetId
            privateEndpointId = request.privateEndpointId
            token = request.token
            assertedIdentity = request.assertedIdentity
        }

        /// Byte equality implies `String` equality, so the synthesized `hash(into:)` stays consistent.
        static func == (lhs: Key, rhs: Key) -> Bool {
            lhs.vault == rhs.vault && lhs.operation == rhs.operation
                && lhs.objectName.hasSameBytes(as: rhs.objectName)
                && lhs.sourceAddress.hasSameBytes(as: rhs.sourceAddress)
                && lhs.subnetId.hasSameBytes(as: rhs.subnetId)
                && lhs.privateEndpointId.hasSameBytes(as: rhs.privateEndpointId)
                && lhs.token.hasSameBytes(as: rhs.token)
                && sameIdentity(lhs.assertedIdentity, rhs.assertedIdentity)
        }

        private static func sameIdentity(_ lhs: AssertedIdentity?, _ rhs: AssertedIdentity?) -> Bool {
            guard let lhs, let rhs else { return lhs == nil && rhs == nil }
            return lhs.oid.hasSameBytes(as: rhs.oid) && lhs.appid.hasSameBytes(as: rhs.appid)
                && lhs.tid.hasSameBytes(as: rhs.tid) && lhs.xmsMirid.hasSameBytes(as: rhs.xmsMirid)
                && lhs.groups.count == rhs.groups.count
                && zip(lhs.groups, rhs.groups).allSatisfy { $0.hasSameBytes(as: $1) }
        }
    }

    private struct State {
        var entries: [Key: (decision: Decision, expires: NIODeadline)] = [:]
        var revision: Revision?
    }

    private let state = Mutex(State())
    private let configuration: MoatClient.DecisionCacheConfiguration
    private let clock: @Sendable () -> NIODeadline

    init(
        configuration: MoatClient.DecisionCacheConfiguration,
        clock: @escaping @Sendable () -> NIODeadline = { .now() }
    ) {
        self.configuration = configuration
        self.clock = clock
    }

    func decision(for key: Key) -> Decision? {
        let now = clock()
        return state.withLock { state in
            guard let entry = state.entries[key] else { return nil }
            guard now < entry.expires else {
                state.entries[key] = nil
                return nil
            }
            return entry.decision
        }
    }

    /// Remembers a decision the daemon just made (unless an answer already showed a newer revision).
    func store(_ decision: Decision, for key: Key) {
        let now = clock()
        let expires = now + TimeAmount(configuration.effectiveTimeToLive)
        state.withLock { state in
            guard noteRevision(decision.revision, in: &state) else { return }
            if state.entries.count >= configuration.maximumEntries {
                state.entries = state.entries.filter { $0.value.expires > now }
                if state.entries.count >= configuration.maximumEntries {
                    state.entries.removeAll(keepingCapacity: true)
                }
            }
            state.entries[key] = (decision, expires)
        }
    }

    /// Drops everything when `revision` is newer than the one the cache was filled on.
    func observe(_ revision: Revision) {
        state.withLock { _ = noteRevision(revision, in: &$0) }
    }

    /// A new connection may reach a restarted daemon, whose sequence numbers start again: forget
    /// everything, revision included.
    func reset() {
        state.withLock { state in
            state.entries.removeAll(keepingCapacity: true)
            state.revision = nil
        }
    }

    /// Moves the cache forward to `revision` when it is newer (clearing it); returns whether
    /// decisions made on `revision` may be cached. Answers can arrive out of order on pipelined
    /// connections: one decided on an older revision must not bring that revision back.
    private func noteRevision(_ revision: Revision, in state: inout State) -> Bool {
        guard let current = state.revision else {
            state.revision = revision
            return true
        }
        if revision == current { return true }
        if revision.sequence > current.sequence {
            state.entries.removeAll(keepingCapacity: true)
            state.revision = revision
            return true
        }
        return false
    }
}

extension MoatClient {
    /// The optional decision cache: off unless `MoatClient.Configuration.decisionCache` is set.
    public struct DecisionCacheConfiguration: Sendable, Hashable {
        /// Entries kept at most.
        public var maximumEntries: Int
        /// How long a decision is reused; capped at `maximumTimeToLive`.
        public var timeToLive: Duration

        /// The longest a cached decision may live, whatever is configured: a revoked grant must
        /// not be served for long.
        public static let maximumTimeToLive: Duration = .seconds(10)

        public init(maximumEntries: Int = 10_000, timeToLive: Duration = .seconds(1)) {
            self.maximumEntries = max(1, maximumEntries)
            self.timeToLive = timeToLive
        }

        var effectiveTimeToLive: Duration { min(max(timeToLive, .zero), Self.maximumTimeToLive) }
    }
}
