import Foundation
import MoatCore
import MoatIdentity
import NIOEmbedded
import Testing

@testable import MoatServer

/// docs/semantics.md: verified tokens are cached per rule snapshot until they expire.
@Suite("The per-loop token cache")
struct TokenCacheTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let expiry: Int64 = 1_900_000_000

    static func state(sequence: UInt64) throws -> ServingState {
        let document = Array(try Data(contentsOf: root.appendingPathComponent("deploy/examples/rules.json")))
        return ServingState(
            rules: try LoadedRules(json: document, sequence: sequence),
            document: document,
            loadedAtMillis: 0
        )
    }

    static func token(object: String) throws -> String {
        let pem = try String(
            contentsOf: root.appendingPathComponent("deploy/examples/demo-signing-key.pem"),
            encoding: .utf8
        )
        return try TokenSigner(pem: pem).sign(
            claims: .object([
                ("aud", .string("https://vault.azure.net")),
                ("iss", .string("https://sts.windows.net/\(Fixture.tenant)/")),
                ("tid", .string(Fixture.tenant)),
                ("oid", .string(object)),
                ("exp", .number("\(expiry)")),
            ])
        )
    }

    /// The cache's hit and miss counters, read back from the metrics text.
    static func counts(_ metrics: ServerMetrics) -> (hits: Int, misses: Int) {
        func value(_ name: String) -> Int {
            let line = metrics.text().split(separator: "\n").first { $0.hasPrefix(name + " ") }
            return line.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
        }
        return (value("moat_token_cache_hits_total"), value("moat_token_cache_misses_total"))
    }

    static func verified(_ verification: TokenVerification) -> String? {
        guard case .parsed(let claims, nil) = verification else { return nil }
        return claims.objectId
    }

    @Test("a verified token is served from the cache until it expires")
    func hitsUntilExpiry() throws {
        let metrics = ServerMetrics()
        let cache = TokenCache(eventLoop: EmbeddedEventLoop(), maximumBytes: 1 << 20, metrics: metrics)
        let state = try Self.state(sequence: 1)
        let token = Substring(try Self.token(object: "a11ce000-0000-4000-8000-000000000001"))
        #expect(Self.verified(cache.verify(token, state: state, now: 1_800_000_000)) != nil)
        #expect(Self.verified(cache.verify(token, state: state, now: 1_800_000_001)) != nil)
        #expect(Self.counts(metrics) == (1, 1))
        _ = cache.verify(token, state: state, now: Self.expiry)
        #expect(Self.counts(metrics) == (1, 2))
    }

    @Test("a new revision starts an empty cache, even for an equal document")
    func revisionChange() throws {
        let metrics = ServerMetrics()
        let cache = TokenCache(eventLoop: EmbeddedEventLoop(), maximumBytes: 1 << 20, metrics: metrics)
        let token = Substring(try Self.token(object: "a11ce000-0000-4000-8000-000000000001"))
        _ = cache.verify(token, state: try Self.state(sequence: 1), now: 1_800_000_000)
        _ = cache.verify(token, state: try Self.state(sequence: 2), now: 1_800_000_000)
        #expect(Self.counts(metrics) == (0, 2))
    }

    @Test("a token sharing a cached token's signature segment is verified, not served from the cache")
    func sameSignatureOtherPayload() throws {
        let cache = TokenCache(eventLoop: EmbeddedEventLoop(), maximumBytes: 1 << 20, metrics: ServerMetrics())
        let state = try Self.state(sequence: 1)
        let alice = try Self.token(object: "a11ce000-0000-4000-8000-000000000001").split(separator: ".")
        let mallory = try Self.token(object: "3a11040e-0000-4000-8000-000000000001").split(separator: ".")
        #expect(
            Self.verified(cache.verify(Substring(alice.joined(separator: ".")), state: state, now: 1_800_000_000))
                != nil
        )
        let forged = [alice[0], mallory[1], alice[2]].joined(separator: ".")
        guard case .parsed(let claims, let failure) = cache.verify(Substring(forged), state: state, now: 1_800_000_000)
        else {
            Issue.record("the forged token did not parse")
            return
        }
        #expect(claims.objectId == "3a11040e-0000-4000-8000-000000000001" && failure != nil)
    }

    @Test("a cache full by bytes starts over rather than growing")
    func capacity() throws {
        let metrics = ServerMetrics()
        let state = try Self.state(sequence: 1)
        let tokens = try (1...3).map { Substring(try Self.token(object: "a11ce000-0000-4000-8000-00000000000\($0)")) }
        // Room for two entries, not three.
        let entry = tokens[0].utf8.count + TokenCache.entryOverhead
        let cache = TokenCache(eventLoop: EmbeddedEventLoop(), maximumBytes: 3 * entry - 1, metrics: metrics)
        for token in tokens { _ = cache.verify(token, state: state, now: 1_800_000_000) }
        _ = cache.verify(tokens[2], state: state, now: 1_800_000_000)
        _ = cache.verify(tokens[0], state: state, now: 1_800_000_000)
        #expect(Self.counts(metrics) == (1, 4))
    }

    @Test("groups count in an entry's size: a token whose groups overflow the cache is not kept")
    func groupsCount() throws {
        let groups = (0..<200).map { JSONValue.string(String(format: "90000000-0000-4000-8000-%012d", $0)) }
        let pem = try String(
            contentsOf: Self.root.appendingPathComponent("deploy/examples/demo-signing-key.pem"),
            encoding: .utf8
        )
        let token = Substring(
            try TokenSigner(pem: pem).sign(
                claims: .object([
                    ("aud", .string("https://vault.azure.net")),
                    ("iss", .string("https://sts.windows.net/\(Fixture.tenant)/")),
                    ("tid", .string(Fixture.tenant)),
                    ("oid", .string("a11ce000-0000-4000-8000-000000000001")),
                    ("groups", .array(groups)),
                    ("exp", .number("\(Self.expiry)")),
                ])
            )
        )
        let metrics = ServerMetrics()
        // Room for the token's characters and half of its groups' overhead.
        let room = token.utf8.count + TokenCache.entryOverhead + 100 * TokenCache.groupOverhead
        let cache = TokenCache(eventLoop: EmbeddedEventLoop(), maximumBytes: room, metrics: metrics)
        let state = try Self.state(sequence: 1)
        for _ in 0..<2 { #expect(Self.verified(cache.verify(token, state: state, now: 1_800_000_000)) != nil) }
        #expect(Self.counts(metrics) == (0, 2))
    }

    /// A junk token: a real token's header and payload with a signature that does not verify.
    static func junk(_ index: Int) throws -> Substring {
        let token = try Self.token(object: "a11ce000-0000-4000-8000-000000000001")
        let input = token[..<token.utf8.lastIndex(of: UInt8(ascii: "."))!]
        return Substring("\(input).\(Base64URL.encode((0..<256).map { UInt8(truncatingIfNeeded: $0 &* index) }))")
    }

    /// A cache of 1 MiB on an embedded loop, and its metrics.
    static func cache() -> (TokenCache, ServerMetrics) {
        let metrics = ServerMetrics()
        return (TokenCache(eventLoop: EmbeddedEventLoop(), maximumBytes: 1 << 20, metrics: metrics), metrics)
    }

    /// Why a token was refused: the signature failure or the malformed reason; `nil` when verified.
    static func refusal(_ verification: TokenVerification) -> String? {
        switch verification {
        case .malformed(let reason): reason
        case .parsed(_, let failure): failure
        }
    }

    @Test("a token whose signature does not verify is verified again each time, never cached")
    func failuresAreNotCached() throws {
        let (cache, metrics) = Self.cache()
        let state = try Self.state(sequence: 1)
        let junk = try Self.junk(7)
        for _ in 0..<3 {
            #expect(
                Self.refusal(cache.verify(junk, state: state, now: 1_800_000_000))?.hasPrefix("[InvalidSignature]")
                    == true
            )
        }
        #expect(Self.counts(metrics) == (0, 3))
    }

    @Test("a token over 16 KiB is refused as malformed, every time, and not cached")
    func oversizedTokens() throws {
        let (cache, metrics) = Self.cache()
        let state = try Self.state(sequence: 1)
        let token = Substring(try Self.token(object: String(repeating: "a", count: 13_000)))
        #expect(token.utf8.count > JWTVerifier.maximumTokenBytes)
        for _ in 0..<2 {
            let reason = Self.refusal(cache.verify(token, state: state, now: 1_800_000_000))
            #expect(reason?.hasPrefix("the token is \(token.utf8.count) bytes") == true)
        }
        #expect(Self.counts(metrics) == (0, 2))
    }

    @Test("an expired token is answered but not kept: an entry is never served past exp")
    func expiredTokensAreNotKept() throws {
        let (cache, metrics) = Self.cache()
        let state = try Self.state(sequence: 1)
        let token = Substring(try Self.token(object: "a11ce000-0000-4000-8000-000000000001"))
        #expect(Self.verified(cache.verify(token, state: state, now: Self.expiry)) != nil)
        #expect(Self.verified(cache.verify(token, state: state, now: Self.expiry - 10)) != nil)
        #expect(Self.counts(metrics) == (0, 2))
    }

    // MARK: - A connection's memo of its last token (TokenMemo)

    @Test("the memo gives the fingerprint it holds for the same bytes and cache, and none for any other")
    func memoReusesOnlyTheSameToken() throws {
        let token = try Self.token(object: "a11ce000-0000-4000-8000-000000000001")
        let (cache, _) = Self.cache()
        let (other, _) = Self.cache()
        let memo = TokenMemo()
        #expect(memo.fingerprint(of: Substring(token), in: cache) == nil)
        let held = TokenFingerprinter().fingerprint(Substring(token))
        memo.remember(Substring(token), held, in: cache)
        #expect(memo.lastTokenField == token)
        // The same bytes in other storage.
        let copy = Substring(String(decoding: Array(token.utf8), as: UTF8.self))
        #expect(memo.fingerprint(of: copy, in: cache) == held)
        // One byte changed, the length kept: the first (the header), one in the middle, the last
        // (the signature).
        let bytes = Array(token.utf8)
        for index in [0, bytes.count / 2, bytes.count - 1] {
            var changed = bytes
            changed[index] = bytes[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            #expect(memo.fingerprint(of: Substring(String(decoding: changed, as: UTF8.self)), in: cache) == nil)
        }
        #expect(memo.fingerprint(of: copy.dropLast(), in: cache) == nil)
        // The same token for another cache (another key).
        #expect(memo.fingerprint(of: copy, in: other) == nil)
        #expect(memo.fingerprint(of: copy, in: cache) == held)
    }

    @Test("the memo holds only tokens the cache holds verified: a refused or expired token leaves the last one")
    func memoHoldsOnlyVerifiedTokens() throws {
        let (cache, _) = Self.cache()
        let state = try Self.state(sequence: 1)
        let alice = try Self.token(object: "a11ce000-0000-4000-8000-000000000001")
        let bob = try Self.token(object: "b0b00000-0000-4000-8000-000000000002")
        let memo = TokenMemo()
        let verified = cache.verify(Substring(alice), state: state, now: 1_800_000_000, memo: memo)
        #expect(Self.verified(verified) != nil)
        #expect(memo.lastTokenField == alice)
        // A forged signature: refused, not held.
        let junk = try Self.junk(7)
        #expect(Self.refusal(cache.verify(junk, state: state, now: 1_800_000_000, memo: memo)) != nil)
        #expect(memo.lastTokenField == alice)
        // Expired: answered, not cached, not held.
        let expired = cache.verify(Substring(bob), state: state, now: Self.expiry, memo: memo)
        #expect(Self.verified(expired) != nil)
        #expect(memo.lastTokenField == alice)
        // A hit for a token another connection had verified: held.
        let hit = cache.verify(Substring(bob), state: state, now: 1_800_000_000, memo: TokenMemo())
        #expect(Self.verified(hit) != nil)
        _ = cache.verify(Substring(bob), state: state, now: 1_800_000_000, memo: memo)
        #expect(memo.lastTokenField == bob)
    }

    @Test("with a memo, another token of the same length on the same connection is its own caller")
    func memoDoesNotConfuseTokens() throws {
        let (cache, metrics) = Self.cache()
        let state = try Self.state(sequence: 1)
        let alice = Substring(try Self.token(object: "a11ce000-0000-4000-8000-000000000001"))
        let bob = Substring(try Self.token(object: "b0b00000-0000-4000-8000-000000000002"))
        try #require(alice.utf8.count == bob.utf8.count)
        let memo = TokenMemo()
        for _ in 0..<2 {
            let first = cache.verify(alice, state: state, now: 1_800_000_000, memo: memo)
            #expect(Self.verified(first) == "a11ce000-0000-4000-8000-000000000001")
            let second = cache.verify(bob, state: state, now: 1_800_000_000, memo: memo)
            #expect(Self.verified(second) == "b0b00000-0000-4000-8000-000000000002")
        }
        #expect(Self.counts(metrics) == (2, 2))
    }

    @Test(
        "with a memo, the cache still decides: an expired entry, a new revision, new key sets, an evicted entry are verified again"
    )
    func memoKeepsTheCacheChecks() throws {
        let metrics = ServerMetrics()
        let state = try Self.state(sequence: 1)
        let alice = Substring(try Self.token(object: "a11ce000-0000-4000-8000-000000000001"))
        let bob = Substring(try Self.token(object: "b0b00000-0000-4000-8000-000000000002"))
        // Room for one entry: the second connection's token evicts the first's.
        let cache = TokenCache(
            eventLoop: EmbeddedEventLoop(),
            maximumBytes: 2 * (alice.utf8.count + TokenCache.entryOverhead) - 1,
            metrics: metrics
        )
        let first = TokenMemo()
        let second = TokenMemo()
        _ = cache.verify(alice, state: state, now: 1_800_000_000, memo: first)
        _ = cache.verify(alice, state: state, now: 1_800_000_001, memo: first)
        #expect(Self.counts(metrics) == (1, 1))
        // Expired: verified again, not kept.
        _ = cache.verify(alice, state: state, now: Self.expiry, memo: first)
        #expect(Self.counts(metrics) == (1, 2))
        // A new revision empties the cache.
        let next = try Self.state(sequence: 2)
        _ = cache.verify(alice, state: next, now: 1_800_000_000, memo: first)
        _ = cache.verify(alice, state: next, now: 1_800_000_000, memo: first)
        #expect(Self.counts(metrics) == (2, 3))
        // New key sets (a key fetch) empty it too.
        let rotated = next.with(FetchedKeys(generation: 1, sets: [:], unknownKey: nil))
        _ = cache.verify(alice, state: rotated, now: 1_800_000_000, memo: first)
        _ = cache.verify(alice, state: rotated, now: 1_800_000_000, memo: first)
        #expect(Self.counts(metrics) == (3, 4))
        // Evicted by another connection's token.
        let evicting = cache.verify(bob, state: rotated, now: 1_800_000_000, memo: second)
        #expect(Self.verified(evicting) != nil)
        let evicted = cache.verify(alice, state: rotated, now: 1_800_000_000, memo: first)
        #expect(Self.verified(evicted) == "a11ce000-0000-4000-8000-000000000001")
        #expect(Self.counts(metrics) == (3, 6))
    }
}
