import Foundation
import MoatCore
import MoatIdentity
import NIOEmbedded
import Testing

@testable import MoatServer

/// DESIGN.md: verified tokens are "cached per snapshot until exp".
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
        let cache = TokenCache(eventLoop: EmbeddedEventLoop(), capacity: 16, metrics: metrics)
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
        let cache = TokenCache(eventLoop: EmbeddedEventLoop(), capacity: 16, metrics: metrics)
        let token = Substring(try Self.token(object: "a11ce000-0000-4000-8000-000000000001"))
        _ = cache.verify(token, state: try Self.state(sequence: 1), now: 1_800_000_000)
        _ = cache.verify(token, state: try Self.state(sequence: 2), now: 1_800_000_000)
        #expect(Self.counts(metrics) == (0, 2))
    }

    @Test("a token sharing a cached token's signature segment is verified, not served from the cache")
    func sameSignatureOtherPayload() throws {
        let cache = TokenCache(eventLoop: EmbeddedEventLoop(), capacity: 16, metrics: ServerMetrics())
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

    @Test("a full cache starts over rather than growing")
    func capacity() throws {
        let metrics = ServerMetrics()
        let cache = TokenCache(eventLoop: EmbeddedEventLoop(), capacity: 2, metrics: metrics)
        let state = try Self.state(sequence: 1)
        let tokens = try (1...3).map { Substring(try Self.token(object: "a11ce000-0000-4000-8000-00000000000\($0)")) }
        for token in tokens { _ = cache.verify(token, state: state, now: 1_800_000_000) }
        _ = cache.verify(tokens[2], state: state, now: 1_800_000_000)
        _ = cache.verify(tokens[0], state: state, now: 1_800_000_000)
        #expect(Self.counts(metrics) == (1, 4))
    }
}
