import MoatCore
import MoatIdentity
import NIOCore
import Prometheus

#if canImport(Glibc)
import Glibc
#endif

/// Verified tokens of one event loop, for the snapshot they were verified against
/// (DESIGN.md: "cached per snapshot until exp").
///
/// One cache per event loop, touched only on that loop, so the request path takes no lock. Keys
/// are the token's signature segment; a hit also compares the whole token. The cache is bounded:
/// when full it starts over (verification is tens of microseconds, a refill is cheap).
final class TokenCache: @unchecked Sendable {
    private struct Entry {
        var token: Substring
        var verification: TokenVerification
        var expiresAt: Int64
    }

    /// Text compared and hashed as bytes: tokens are ASCII, and Swift's Unicode-aware comparison
    /// of 1 KB strings would cost more than the rest of a check.
    private struct Key: Hashable {
        let text: Substring

        static func == (lhs: Key, rhs: Key) -> Bool {
            sameBytes(lhs.text, rhs.text)
        }

        func hash(into hasher: inout Hasher) {
            let hashed: Void? = text.utf8.withContiguousStorageIfAvailable {
                hasher.combine(bytes: UnsafeRawBufferPointer($0))
            }
            if hashed == nil { for byte in text.utf8 { hasher.combine(byte) } }
        }
    }

    private let eventLoop: any EventLoop
    private let capacity: Int
    private var entries: [Key: Entry] = [:]
    /// The revision the entries were verified against: sequence numbers are never reused (an
    /// object's address could be, once the old state is freed).
    private var revision: UInt64?
    private let metrics: ServerMetrics

    init(eventLoop: any EventLoop, capacity: Int, metrics: ServerMetrics) {
        self.eventLoop = eventLoop
        self.capacity = capacity
        self.metrics = metrics
    }

    /// The verification of `token` under `state`, from the cache or verified now.
    func verify(_ token: Substring, state: ServingState, now: Int64) -> TokenVerification {
        eventLoop.assertInEventLoop()
        if revision != state.revision.sequence {
            entries.removeAll(keepingCapacity: true)
            revision = state.revision.sequence
        }
        let signature =
            token.utf8.lastIndex(of: UInt8(ascii: ".")).map { token[token.utf8.index(after: $0)...] } ?? token
        let key = Key(text: signature)
        if let entry = entries[key], Self.sameBytes(entry.token, token) {
            if now < entry.expiresAt {
                metrics.tokenCacheHits.increment()
                return entry.verification
            }
            entries[key] = nil
        }
        metrics.tokenCacheMisses.increment()
        let verification = state.rules.verifier.verify(token)
        if case .parsed(let claims, _) = verification, let expiresAt = claims.expiresAt {
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(token: token, verification: verification, expiresAt: expiresAt)
        }
        return verification
    }
}

extension TokenCache {
    /// Byte equality with `memcmp` (generic `elementsEqual` walks a substring byte by byte).
    fileprivate static func sameBytes(_ a: Substring, _ b: Substring) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        let compared = a.utf8.withContiguousStorageIfAvailable { x in
            b.utf8.withContiguousStorageIfAvailable { y in
                x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0
            }
        }
        return (compared ?? nil) ?? a.utf8.elementsEqual(b.utf8)
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
