import Crypto
import MoatCore
import Testing
import _CryptoExtras

@testable import MoatIdentity

/// Keys generated once per test run (no committed test keys) and a verifier that knows them.
enum Fixture {
    static let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    static let otherTenant = "0c8f6a52-7d3e-4b1a-9f2e-5a6b7c8d9e0f"
    static let issuer = "https://sts.windows.net/\(tenant)/"

    static let rsaKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let p256Key = P256.Signing.PrivateKey()
    /// Not in the document: signs tokens that must not verify.
    static let strangerRSAKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048)

    static let rsaSigner = try! TokenSigner(pem: rsaKey.pemRepresentation, keyID: "rsa-1")
    static let p256Signer = try! TokenSigner(pem: p256Key.pemRepresentation, keyID: "ec-1")

    /// A document declaring the fixture tenant with both keys, and one more tenant with only the
    /// RSA key under another kid.
    static let document: JSONValue = .object([
        (
            "tenants",
            .array([
                .object([
                    ("id", .string(tenant)),
                    ("jwks", .object([("keys", .array([rsaSigner.publicJWK, p256Signer.publicJWK]))])),
                ]),
                .object([
                    ("id", .string(otherTenant)),
                    ("jwks", .object([("keys", .array([rsaSigner.publicJWK.setting("kid", to: .string("other-1"))]))])),
                ]),
            ])
        )
    ])

    static let verifier = try! JWTVerifier(
        snapshot: Snapshot(document: document, revision: Revision(sequence: 1, hash: "0000000000000000"))
    )

    /// A v1 access token's claims for Key Vault, as raw JSON text.
    static let claimsText = """
        {"aud":"https://vault.azure.net","iss":"\(issuer)","iat":1600000000,"nbf":1600000000,"exp":1900000000,\
        "appid":"11111111-1111-4111-8111-111111111111","oid":"22222222-2222-4222-8222-222222222222",\
        "tid":"\(tenant)","ver":"1.0"}
        """
    static let claims = try! JSONValue(parsing: claimsText)

    /// `claims` with members replaced or added (values as raw JSON) and others removed.
    static func claims(setting changes: [(String, String)] = [], removing removed: [String] = []) -> JSONValue {
        var value = claims
        for (name, json) in changes { value = value.setting(name, to: try! JSONValue(parsing: json)) }
        for name in removed { value = value.removing(name) }
        return value
    }

    enum Key {
        case rsa
        case p256
        case strangerRSA

        func signature(over input: String) -> [UInt8] {
            let digest = SHA256.hash(data: Array(input.utf8))
            switch self {
            case .rsa:
                return Array(try! Fixture.rsaKey.signature(for: digest, padding: .insecurePKCS1v1_5).rawRepresentation)
            case .p256: return Array(try! Fixture.p256Key.signature(for: digest).rawRepresentation)
            case .strangerRSA:
                return Array(
                    try! Fixture.strangerRSAKey.signature(for: digest, padding: .insecurePKCS1v1_5).rawRepresentation
                )
            }
        }
    }

    static func segment(_ text: String) -> String { Base64URL.encode(text.utf8) }

    /// A compact JWS with exactly the header and payload text given, signed by `key`.
    static func token(header: String, payload: String, key: Key = .rsa) -> String {
        let input = segment(header) + "." + segment(payload)
        return input + "." + Base64URL.encode(key.signature(over: input))
    }

    static func token(
        header: String = #"{"alg":"RS256","kid":"rsa-1","typ":"JWT"}"#,
        claims: JSONValue,
        key: Key = .rsa
    ) -> String {
        token(header: header, payload: claims.serialized(.compact), key: key)
    }
}

extension TokenVerification {
    var malformedReason: String? {
        if case .malformed(let reason) = self { return reason }
        return nil
    }

    var claims: TokenClaims? {
        if case .parsed(let claims, _) = self { return claims }
        return nil
    }

    /// The signature failure of a parsed token; `nil` when malformed or verified.
    var signatureFailure: String? {
        if case .parsed(_, let failure) = self { return failure }
        return nil
    }

    /// True only for a token that parsed and whose signature verified.
    var isVerified: Bool {
        if case .parsed(_, nil) = self { return true }
        return false
    }
}
