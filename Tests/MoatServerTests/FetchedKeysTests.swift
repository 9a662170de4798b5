import Foundation
import MoatCore
import MoatIdentity
import NIOEmbedded
import Synchronization
import Testing

@testable import MoatServer

/// docs/semantics.md, "Signing keys kept current": fetched key sets are versioned apart from the
/// rules, the token cache follows both, and unknown kids start at most one refresh per tenant.
@Suite("Fetched key sets")
struct FetchedKeysTests {
    static let tenant = "7a1e5c3d-0000-4000-8000-00000000abcd"
    static let documentOnlyTenant = "7a1e5c3d-0000-4000-8000-00000000beef"
    static let pem = try! String(
        contentsOf: TokenCacheTests.root.appendingPathComponent("deploy/examples/demo-signing-key.pem"),
        encoding: .utf8
    )
    static let signer = try! TokenSigner(pem: pem, keyID: "fetched-1")

    /// Rules whose tenant fetches its keys (`jwksUri`), and one that lists its own.
    static func rules(sequence: UInt64 = 1) throws -> LoadedRules {
        let document: JSONValue = .object([
            (
                "tenants",
                .array([
                    .object([("id", .string(tenant)), ("jwksUri", .string("https://keys.example/keys"))]),
                    .object([
                        ("id", .string(documentOnlyTenant)),
                        ("jwks", .object([("keys", .array([signer.publicJWK.setting("kid", to: .string("doc-1"))]))])),
                    ]),
                ])
            )
        ])
        return try LoadedRules(json: Array(document.serialized().utf8), sequence: sequence)
    }

    static func keys(generation: UInt64, signers: [TokenSigner], gate: UnknownKeyGate? = nil) throws -> FetchedKeys {
        let jwks: JSONValue = .object([("keys", .array(signers.map(\.publicJWK)))])
        let set = try TenantKeySet(tenantId: tenant, jwks: Array(jwks.serialized().utf8))
        return FetchedKeys(
            generation: generation,
            sets: [
                tenant: FetchedKeys.Entry(
                    source: .jwksUri("https://keys.example/keys"),
                    set: set,
                    fetchedAtMillis: 0,
                    etag: nil,
                    origin: .fetched
                )
            ],
            unknownKey: gate
        )
    }

    static func token(tenant: String = tenant, signer: TokenSigner = signer) -> Substring {
        Substring(
            signer.sign(
                claims: .object([
                    ("aud", .string("https://vault.azure.net")),
                    ("iss", .string("https://sts.windows.net/\(tenant)/")),
                    ("tid", .string(tenant)),
                    ("oid", .string("a11ce000-0000-4000-8000-000000000001")),
                    ("exp", .number("\(TokenCacheTests.expiry)")),
                ])
            )
        )
    }

    @Test("a key-set change under the same rules starts an empty token cache")
    func keySetChangeInvalidatesTheCache() throws {
        let metrics = ServerMetrics()
        let cache = TokenCache(eventLoop: EmbeddedEventLoop(), maximumBytes: 1 << 20, metrics: metrics)
        let rules = ServingState(rules: try Self.rules(), document: [], loadedAtMillis: 0)
        let published = rules.with(try Self.keys(generation: 1, signers: [Self.signer]))
        let token = Self.token()
        #expect(TokenCacheTests.verified(cache.verify(token, state: published, now: 1_800_000_000)) != nil)
        #expect(TokenCacheTests.verified(cache.verify(token, state: published, now: 1_800_000_000)) != nil)
        #expect(TokenCacheTests.counts(metrics) == (1, 1))
        // The key is withdrawn: same revision, next generation. The cached verification must go.
        let withdrawn = rules.with(try Self.keys(generation: 2, signers: [TokenSigner(pem: Self.pem, keyID: "other")]))
        #expect(TokenCacheTests.verified(cache.verify(token, state: withdrawn, now: 1_800_000_000)) == nil)
        #expect(TokenCacheTests.counts(metrics) == (1, 2))
    }

    @Test("a fetched set applies only to its tenant's current source")
    func setsFollowTheSource() throws {
        let state = ServingState(rules: try Self.rules(), document: [], loadedAtMillis: 0)
        #expect(state.tenantsAwaitingKeys == [Self.tenant])
        let fetched = state.with(try Self.keys(generation: 1, signers: [Self.signer]))
        #expect(fetched.tenantsAwaitingKeys.isEmpty)
        #expect(TokenCacheTests.verified(fetched.verifier.verify(Self.token())) != nil)
        // The document's keys still verify their own tenant's tokens.
        let documentSigner = try TokenSigner(pem: Self.pem, keyID: "doc-1")
        #expect(
            TokenCacheTests.verified(
                fetched.verifier.verify(Self.token(tenant: Self.documentOnlyTenant, signer: documentSigner))
            )
                != nil
        )
        // A set from another source (the rules changed it) is not applied.
        var other = try Self.keys(generation: 2, signers: [Self.signer])
        other = FetchedKeys(
            generation: 2,
            sets: other.sets.mapValues { entry in
                var entry = entry
                entry.source = .jwksUri("https://elsewhere.example/keys")
                return entry
            },
            unknownKey: nil
        )
        let mismatched = state.with(other)
        #expect(mismatched.tenantsAwaitingKeys == [Self.tenant])
        #expect(TokenCacheTests.verified(mismatched.verifier.verify(Self.token())) == nil)
    }

    @Test("unknown kids start one refresh per tenant, only for tenants with a fetched source")
    func unknownKidsAreRateLimited() async throws {
        let refreshed = Mutex<[String]>([])
        let gate = UnknownKeyGate { tenant in refreshed.withLock { $0.append(tenant) } }
        let state = ServingState(rules: try Self.rules(), document: [], loadedAtMillis: 0)
            .with(try Self.keys(generation: 1, signers: [Self.signer], gate: gate))
        let stranger = try TokenSigner(pem: Self.pem, keyID: "unknown")
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask { _ = state.verifier.verify(Self.token(signer: stranger)) }
            }
        }
        // A tenant that lists its keys in the document, and one the rules do not know: no refresh.
        _ = state.verifier.verify(Self.token(tenant: Self.documentOnlyTenant, signer: stranger))
        _ = state.verifier.verify(Self.token(tenant: "00000000-0000-4000-8000-000000000000", signer: stranger))
        // A token whose kid is known never refreshes.
        _ = state.verifier.verify(Self.token())
        #expect(refreshed.withLock { $0 } == [Self.tenant])
    }

    @Test("Cache-Control max-age and redirects' Location are read as the fetcher uses them")
    func fetcherHeaders() {
        #expect(KeyFetcher.maxAge(["max-age=86400, private"]) == 86400)
        #expect(KeyFetcher.maxAge(["private", " max-age = 60"]) == nil)
        #expect(KeyFetcher.maxAge(["public, no-store"]) == 0)
        #expect(KeyFetcher.maxAge([]) == nil)
        #expect(
            KeyFetcher.resolve("/v2/keys", against: "https://login.example:8443/a/b?c")
                == "https://login.example:8443/v2/keys"
        )
        #expect(
            KeyFetcher.resolve("https://other.example/k", against: "https://login.example/a")
                == "https://other.example/k"
        )
        #expect(
            KeySource.httpsProblem(KeyFetcher.resolve("//evil.example/k", against: "https://login.example/a")) != nil
        )
    }
}
