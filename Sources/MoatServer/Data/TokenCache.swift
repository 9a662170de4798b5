import MoatCore
import MoatIdentity
import NIOCore
import Prometheus

/// Verified tokens of one event loop, for the keys they were verified against: a token's
/// verification depends only on the token and the keys (the snapshot's and the fetched key sets),
/// so it is cached until the token expires or either changes (`docs/semantics.md`, "Token checks, in
/// order").
///
/// One cache per event loop, touched only on that loop, so the request path takes no lock. Only
/// tokens whose signature verified are kept, so a sender without a tenant's signing key cannot add
/// entries; an entry holds the claims and no token, keyed by the token's keyed 128-bit
/// `TokenFingerprint`. The cache is bounded by bytes (each entry counted as its token's length,
/// plus `groupOverhead` per group, plus `entryOverhead`): when full it starts over (verification
/// is tens of microseconds, a refill is cheap). Tokens longer than `JWTVerifier.maximumTokenBytes`
/// are refused without being hashed.
///
/// Its mutable state sits in a `NIOLoopBoundBox`, so touching it off its loop is caught, not a race.
final class TokenCache: Sendable {
    private struct Entry {
        var claims: TokenClaims
        var expiresAt: Int64
        var bytes: Int
    }

    /// What changes: the entries, their cost, and the keys they were verified against.
    private struct State {
        var entries: [TokenFingerprint: Entry] = [:]
        var bytes = 0
        /// The revision the entries were verified against: sequence numbers are never reused (an
        /// object's address could be, once the old state is freed).
        var revision: UInt64?
        /// The key-set generation they were verified against (`FetchedKeys.generation`, never reused).
        var keyGeneration: UInt64 = 0

        mutating func removeAll() {
            entries.removeAll(keepingCapacity: false)
            bytes = 0
        }
    }

    /// What an entry costs besides its token's length: the dictionary slot, the claims object and
    /// its strings' headers.
    static let entryOverhead = 512
    /// What a group costs besides its characters in the token: a string object and an array slot
    /// (a GUID takes 52 bytes of the token and about 96 in memory).
    static let groupOverhead = 64

    private let maximumBytes: Int
    private let fingerprinter = TokenFingerprinter()
    private let state: NIOLoopBoundBox<State>
    private let metrics: ServerMetrics

    init(eventLoop: any EventLoop, maximumBytes: Int, metrics: ServerMetrics) {
        self.maximumBytes = maximumBytes
        self.metrics = metrics
        self.state = .makeBoxSendingValue(State(), eventLoop: eventLoop)
    }

    /// The verification of `token` under `serving`, from the cache or verified now.
    func verify(_ token: Substring, state serving: ServingState, now: Int64) -> TokenVerification {
        state.withValue { state in
            if state.revision != serving.revision.sequence || state.keyGeneration != serving.keys.generation {
                state.removeAll()
                state.revision = serving.revision.sequence
                state.keyGeneration = serving.keys.generation
            }
            let length = token.utf8.count
            guard length <= JWTVerifier.maximumTokenBytes else {
                metrics.tokenCacheMisses.increment()
                return serving.verifier.verify(token)
            }
            let key = fingerprinter.fingerprint(token)
            if let entry = state.entries[key] {
                if now < entry.expiresAt {
                    metrics.tokenCacheHits.increment()
                    return .parsed(entry.claims, signatureFailure: nil)
                }
                state.entries[key] = nil
                state.bytes -= entry.bytes
            }
            metrics.tokenCacheMisses.increment()
            let verification = serving.verifier.verify(token)
            if case .parsed(let claims, signatureFailure: nil) = verification, let expiresAt = claims.expiresAt,
                now < expiresAt
            {
                let cost = length + claims.groups.count * Self.groupOverhead + Self.entryOverhead
                if state.bytes + cost > maximumBytes { state.removeAll() }
                if cost <= maximumBytes {
                    state.entries[key] = Entry(claims: claims, expiresAt: expiresAt, bytes: cost)
                    state.bytes += cost
                }
            }
            return verification
        }
    }
}

/// The engine's view of a `TokenCache`: a verifier bound to one serving state and time.
struct CachedTokenVerifier: TokenVerifier {
    let cache: TokenCache
    let state: ServingState
    let now: Int64

    func verify(_ token: Substring) -> TokenVerification {
        cache.verify(token, state: state, now: now)
    }
}
