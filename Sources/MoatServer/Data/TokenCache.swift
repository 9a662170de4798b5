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

    /// The verification of `token` under `serving`, from the cache or verified now. With a
    /// connection's `memo`, the token's fingerprint is the memo's when the token is the one it
    /// holds; the memo is given the token only once the cache holds it verified (a hit, or an
    /// insert after a verification), so a token that fails is never held.
    func verify(
        _ token: Substring,
        state serving: ServingState,
        now: Int64,
        memo: TokenMemo? = nil
    ) -> TokenVerification {
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
            let held = memo?.fingerprint(of: token, in: self)
            let key = held ?? fingerprinter.fingerprint(token)
            if let entry = state.entries[key] {
                if now < entry.expiresAt {
                    metrics.tokenCacheHits.increment()
                    if held == nil { memo?.remember(token, key, in: self) }
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
                    memo?.remember(token, key, in: self)
                }
            }
            return verification
        }
    }
}

/// A connection's last verified token and its fingerprint, so that the `TokenCache` lookup of a
/// token the connection sent just before takes its key from here instead of hashing the token again
/// (docs/performance.md, "Cuts"): a connection usually sends the same token with every check (one
/// service, one token for its lifetime).
///
/// The memo is used only when the token is byte for byte the one it holds (the whole token
/// compared, in a time that does not depend on where they differ: on a connection shared by
/// callers the last token may be another caller's), under the same cache's key: the fingerprint
/// it gives is the one hashing would give (docs/security.md, the token cache's fingerprint). It
/// keeps the fingerprint only, never a verification: the cache lookup still happens, with its
/// expiry, key-set and revision checks and its bound. It is given a token only once the cache
/// holds it verified (`TokenCache.verify`), so junk or forged tokens are never held. It holds
/// that request's whole token field (with its "Bearer " if any: at most
/// `JWTVerifier.maximumTokenBytes` + 7 bytes; shared with the request, not copied) while the
/// connection is open, and gives it to the next request's decoding
/// (`CheckRequest(wirePayload:reusingToken:)`), so an unchanged token is not copied either.
///
/// One per connection (`DataRequestProcessor`, which one connection's handler owns and never
/// copies), touched only on the connection's event loop: by the processor, and inside
/// `TokenCache.verify` of that loop's cache (whose box checks the loop); and one for the shadow
/// judge, on its loop (`ShadowJudge`). `@unchecked Sendable` only so that the engine's
/// `CachedTokenVerifier` can carry it.
final class TokenMemo: @unchecked Sendable {
    /// The cache is held, not only its identity: an identity could be a later cache's once this
    /// one is gone, and its fingerprints are under another key.
    private var last: (token: Substring, fingerprint: TokenFingerprint, cache: TokenCache)?

    /// The token field of the request whose token was remembered last ("" before the first).
    var lastTokenField: String { last?.token.base ?? "" }

    /// The fingerprint of `token` by `cache`, when `token` is the token the memo holds for it.
    func fingerprint(of token: Substring, in cache: TokenCache) -> TokenFingerprint? {
        guard let last, last.cache === cache, Self.sameBytes(last.token, token) else { return nil }
        return last.fingerprint
    }

    /// Holds `token`, which `cache` holds verified under `fingerprint`, in place of the last.
    func remember(_ token: Substring, _ fingerprint: TokenFingerprint, in cache: TokenCache) {
        last = (token, fingerprint, cache)
    }

    /// Whether `a` and `b` hold the same bytes. Of equal lengths, every byte is compared whatever
    /// they hold, so the time taken does not tell how much of another caller's token a guess got
    /// right (docs/security.md); the same storage is the same bytes.
    private static func sameBytes(_ a: Substring, _ b: Substring) -> Bool {
        var a = a
        var b = b
        return a.withUTF8 { a in
            b.withUTF8 { b in
                guard a.count == b.count else { return false }
                if a.baseAddress == b.baseAddress { return true }
                var difference: UInt8 = 0
                for index in 0..<a.count { difference |= a[index] ^ b[index] }
                return difference == 0
            }
        }
    }
}

/// The engine's view of a `TokenCache`: a verifier bound to one serving state and time, and to a
/// connection's `TokenMemo` when it has one.
struct CachedTokenVerifier: TokenVerifier {
    let cache: TokenCache
    let state: ServingState
    let now: Int64
    let memo: TokenMemo

    func verify(_ token: Substring) -> TokenVerification {
        cache.verify(token, state: state, now: now, memo: memo)
    }
}
