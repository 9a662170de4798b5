import MoatCore
import MoatIdentity
import Synchronization

/// The key sets fetched (or read from `jwksFile`s), one per tenant with a key source, with the
/// generation that versions them apart from the rules: the token cache starts over when either changes.
struct FetchedKeys: Sendable {
    /// Where a set came from.
    enum Origin: String, Sendable {
        /// Fetched from the tenant's `openIdConfiguration` or `jwksUri` by this daemon.
        case fetched
        /// Loaded from `--state-dir` at start, fetched by an earlier run.
        case persisted
        /// Read from the tenant's `jwksFile`.
        case file
    }

    struct Entry: Sendable {
        var source: KeySource
        var set: TenantKeySet
        /// When the set was fetched, or last confirmed current (HTTP 304, file unchanged), Unix ms.
        var fetchedAtMillis: Int64
        var etag: String?
        var origin: Origin
    }

    /// Increases with every change of `sets`; 0 is no fetched set at all.
    let generation: UInt64
    /// Tenant id (lower case) → its set.
    let sets: [String: Entry]
    /// Told of tokens whose `kid` is unknown; `nil`: nothing refreshes (offline use).
    let unknownKey: UnknownKeyGate?

    static let none = FetchedKeys(generation: 0, sets: [:], unknownKey: nil)
}

/// Turns tokens with unknown `kid`s into refreshes: at most one per tenant per
/// `KeysConfiguration.unknownKeyRefreshInterval`, started in the background, so that a check never
/// waits for the network and a burst of forged `kid`s costs one fetch.
///
/// Called on the checking thread, only when a token's `kid` is unknown (never for a verified token):
/// one lock and one clock read.
final class UnknownKeyGate: Sendable {
    private let lastRefresh = Mutex<[String: ContinuousClock.Instant]>([:])
    private let interval: Duration
    private let refresh: @Sendable (_ tenantId: String) -> Void

    init(
        interval: Duration = KeysConfiguration.unknownKeyRefreshInterval,
        refresh: @escaping @Sendable (String) -> Void
    ) {
        self.interval = interval
        self.refresh = refresh
    }

    func missed(_ tenantId: String) {
        let now = ContinuousClock.now
        let due = lastRefresh.withLock { last in
            if let previous = last[tenantId], previous.duration(to: now) < interval { return false }
            last[tenantId] = now
            return true
        }
        if due { refresh(tenantId) }
    }
}
