import Foundation
import MoatIdentity
import Testing

@testable import MoatCore

/// Refusals of hostile tokens and requests (issue 8): who a 401 names as the caller, and how much
/// of the token or the request a message repeats. Runs the engine with the example rules and tokens
/// signed by the demo key.
@Suite("Refusals of hostile tokens and requests")
struct TokenRefusalTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let tenant = "de300000-0000-4000-8000-000000000001"
    static let issuer = "https://sts.windows.net/\(tenant)/"
    static let alice = "a11ce000-0000-4000-8000-000000000001"

    static let rules = try! LoadedRules(
        json: try! Data(contentsOf: root.appendingPathComponent("deploy/examples/rules.json")),
        sequence: 1
    )
    static let signer = try! TokenSigner(
        pem: String(
            contentsOf: root.appendingPathComponent("deploy/examples/demo-signing-key.pem"),
            encoding: .utf8
        )
    )

    static func claims(_ changes: [(String, JSONValue)] = []) -> JSONValue {
        var claims: JSONValue = .object([
            ("aud", .string("https://vault.azure.net")),
            ("iss", .string(issuer)),
            ("tid", .string(tenant)),
            ("oid", .string(alice)),
            ("exp", .number("4102444800")),
        ])
        for (name, value) in changes { claims = claims.setting(name, to: value) }
        return claims
    }

    static func decide(_ token: String) -> Decision {
        rules.snapshot.evaluate(
            CheckRequest(vault: "contoso-prod", operation: .getSecret, sourceAddress: "203.0.113.9", token: token),
            verifier: rules.verifier,
            context: EvaluationContext(now: 1_800_000_000)
        )
    }

    @Test("a token whose signature did not verify names no caller, whatever its claims say")
    func unverifiedClaimsAreNotTheCaller() throws {
        let good = Self.signer.sign(claims: Self.claims())
        #expect(Self.decide(good).outcome == .allow)
        #expect(Self.decide(good).caller?.objectId == Self.alice)

        // Bad signature: alice's claims, the last signature byte changed.
        var forged = good
        let last = forged.removeLast()
        forged.append(last == "A" ? "Q" : "A")
        let badSignature = Self.decide(forged)
        #expect(badSignature.code == .unauthorized && badSignature.innerCode == .invalidToken)
        #expect(badSignature.caller == nil)

        // Issuer of another tenant: refused before the signature is looked at.
        let otherIssuer = Self.decide(
            Self.signer.sign(claims: Self.claims([("iss", .string("https://sts.windows.net/evil/"))]))
        )
        #expect(otherIssuer.innerCode == .invalidIssuer)
        #expect(otherIssuer.caller == nil)

        // A verified token that fails a later check still names its caller.
        let expired = Self.decide(Self.signer.sign(claims: Self.claims([("exp", .number("1700000000"))])))
        #expect(expired.innerCode == .tokenExpired)
        #expect(expired.caller?.objectId == Self.alice)
    }

    @Test("401 messages repeat at most Echo.limit characters of each issuer and audience")
    func echoedClaimsAreCut() throws {
        let longIssuer = Self.decide(
            Self.signer.sign(claims: Self.claims([("iss", .string(String(repeating: "i", count: 10_000)))]))
        )
        #expect(longIssuer.innerCode == .invalidIssuer)
        #expect(longIssuer.message.contains(String(repeating: "i", count: Echo.limit) + "…."))
        #expect(!longIssuer.message.contains(String(repeating: "i", count: Echo.limit + 1)))

        let audiences = (0..<30).map {
            JSONValue.string("https://audience-\($0).example/\(String(repeating: "a", count: 300))")
        }
        let manyAudiences = Self.decide(Self.signer.sign(claims: Self.claims([("aud", .array(audiences))])))
        #expect(manyAudiences.innerCode == .invalidAudience)
        #expect(manyAudiences.message.hasSuffix(", … (30 values)."))
        #expect(manyAudiences.message.utf8.count < (Echo.limit + 4) * Echo.listLimit + 200)
    }

    @Test("a NUL in the claims is a 401 InvalidToken whose message holds no control character")
    func controlCharacterInClaims() throws {
        // No key needed: the payload alone decides.
        let header = Base64URL.encode(#"{"alg":"RS256","kid":"x"}"#.utf8)
        let payload = Base64URL.encode(#"{"iss":"\u0000","exp":4102444800}"#.utf8)
        let decision = Self.decide("\(header).\(payload).AAAA")
        #expect(decision.code == .unauthorized && decision.innerCode == .invalidToken)
        #expect(decision.message.hasPrefix("[BearerReadAccessTokenFailed] Error validating token: the payload holds"))
        #expect(!decision.message.unicodeScalars.contains { $0.value < 0x20 })
        #expect(decision.caller == nil)
    }

    @Test("400 and 404 messages repeat at most Echo.limit characters of the request's values")
    func echoedRequestValuesAreCut() {
        let long = String(repeating: "v", count: 100_000)
        let context = EvaluationContext(now: 1_800_000_000)
        let token = Self.signer.sign(claims: Self.claims())
        let unknownVault = Self.rules.snapshot.evaluate(
            CheckRequest(vault: long, operation: .getSecret, token: token),
            verifier: Self.rules.verifier,
            context: context
        )
        #expect(unknownVault.code == .vaultNotFound)
        #expect(unknownVault.message == "Vault not found: '\(String(repeating: "v", count: Echo.limit))…'.")
        let badSource = Self.rules.snapshot.evaluate(
            CheckRequest(vault: "contoso-prod", operation: .getSecret, sourceAddress: long, token: token),
            verifier: Self.rules.verifier,
            context: context
        )
        #expect(badSource.code == .badParameter)
        #expect(badSource.message.utf8.count < Echo.limit + 100)
        let subnet = Self.rules.snapshot.evaluate(
            CheckRequest(
                vault: "contoso-prod",
                operation: .getSecret,
                sourceAddress: "198.51.100.7",
                subnetId: long,
                token: token
            ),
            verifier: Self.rules.verifier,
            context: context
        )
        #expect(subnet.innerCode == .forbiddenByFirewall)
        #expect(subnet.message.utf8.count < Echo.limit + 400)
    }
}
