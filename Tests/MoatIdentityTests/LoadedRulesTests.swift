import MoatCore
import MoatIdentity
import Testing

@Suite("LoadedRules")
struct LoadedRulesTests {
    static let vault: JSONValue = try! JSONValue(
        parsing: """
            {"name": "contoso-prod", "subscriptionId": "00000000-0000-4000-8000-000000000001", "resourceGroup": "rg",
             "properties": {"tenantId": "\(Fixture.tenant)", "accessPolicies": []}}
            """
    )

    static func document(keys: [JSONValue], vaults: [JSONValue] = [vault]) -> [UInt8] {
        let document: JSONValue = .object([
            (
                "tenants",
                .array([.object([("id", .string(Fixture.tenant)), ("jwks", .object([("keys", .array(keys))]))])])
            ),
            ("vaults", .array(vaults)),
        ])
        return Array(document.serialized(.document).utf8)
    }

    /// An RSA JWK whose `n` has 256 bytes but only 2040 significant bits (the second byte's top bit
    /// set), which the document compiler refuses.
    static let shortModulusKey: JSONValue = {
        var modulus = Base64URL.decode(Fixture.rsaSigner.publicJWK["n"]!.stringValue!)!
        modulus[0] = 0
        modulus[1] |= 0x80
        return Fixture.rsaSigner.publicJWK.setting("kid", to: .string("short")).setting(
            "n",
            to: .string(Base64URL.encode(modulus))
        )
    }()

    @Test("a valid document loads, with its hash and sequence, and verifies its tenants' tokens")
    func loads() throws {
        let bytes = Self.document(keys: [Fixture.rsaSigner.publicJWK, Fixture.p256Signer.publicJWK])
        let rules = try LoadedRules(json: bytes, sequence: 7)
        #expect(rules.snapshot.revision == Revision(sequence: 7, hash: RevisionHash.of(bytes)))
        #expect(rules.snapshot.vaultNames == ["contoso-prod"])
        for signer in [Fixture.rsaSigner, Fixture.p256Signer] {
            #expect(rules.verifier.verify(signer.sign(claims: Fixture.claims)[...]).isVerified)
        }
    }

    struct RefusedCase: Sendable, CustomTestStringConvertible {
        var name: String
        var keys: [JSONValue]
        var errors: [ValidationError]
        var testDescription: String { name }
    }

    /// An RSA JWK with an even public exponent, which only swift-crypto refuses.
    static let evenExponentKey = Fixture.rsaSigner.publicJWK.setting("e", to: .string("Ag"))

    static let evenExponentError = ValidationError(
        path: "tenants[0].jwks.keys[0]",
        message: "RSA public exponent must be odd and at least 3 (usually 65537, \"AQAB\")"
    )

    static let refusedCases: [RefusedCase] = [
        RefusedCase(
            name: "RSA modulus under 2048 bits",
            keys: [Fixture.rsaSigner.publicJWK, shortModulusKey],
            errors: [
                ValidationError(
                    path: "tenants[0].jwks.keys[1]",
                    message: "RSA key of 2040 bits: keys of 2048 to 8192 bits are accepted"
                )
            ]
        ),
        RefusedCase(name: "even RSA exponent", keys: [evenExponentKey], errors: [evenExponentError]),
        RefusedCase(
            name: "P-256 point not on the curve, and an even exponent",
            keys: [
                Fixture.p256Signer.publicJWK.setting(
                    "x",
                    to: .string(Base64URL.encode([UInt8](repeating: 0, count: 32)))
                )
                .setting("y", to: .string(Base64URL.encode([UInt8](repeating: 0, count: 32)))),
                evenExponentKey,
            ],
            errors: [
                ValidationError(
                    path: "tenants[0].jwks.keys[0]",
                    message: "x and y are not a point on the P-256 curve; …"
                ),
                ValidationError(path: "tenants[0].jwks.keys[1]", message: evenExponentError.message),
            ]
        ),
        RefusedCase(
            name: "a key the document compiler refuses",
            keys: [.object([("kty", .string("oct")), ("kid", .string("hmac")), ("k", .string("c2VjcmV0"))])],
            errors: [
                ValidationError(
                    path: "tenants[0].jwks.keys[0]",
                    message: "'oct' key: only RSA (RS256) and EC P-256 (ES256) public keys verify tokens"
                )
            ]
        ),
    ]

    @Test("keys that cannot verify reject the document, each at its path", arguments: refusedCases)
    func refusedKeys(_ testCase: RefusedCase) {
        Self.expectErrors(Self.document(keys: testCase.keys), testCase.errors)
    }

    @Test("document errors come first, then the keys swift-crypto refuses")
    func combinedErrors() {
        let badVault = Self.vault.setting("name", to: .string("x"))
        let bytes = Self.document(keys: [Self.evenExponentKey], vaults: [badVault])
        Self.expectErrors(
            bytes,
            [
                ValidationError(
                    path: "vaults[0].name",
                    message: "'x' is not a vault name: 3 to 24 letters, digits and hyphens"
                ),
                Self.evenExponentError,
            ]
        )
    }

    @Test("bytes that are not JSON are one error at $")
    func notJSON() {
        #expect {
            _ = try LoadedRules(json: Array("{\"tenants\": [".utf8), sequence: 1)
        } throws: { error in
            guard let error = error as? DocumentError else { return false }
            return error.errors.count == 1 && error.errors[0].path == "$"
                && error.errors[0].message.hasPrefix("not JSON")
        }
    }

    /// Expects exactly `expected`, in order; a message ending in "…" is matched as a prefix.
    static func expectErrors(
        _ bytes: [UInt8],
        _ expected: [ValidationError],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            _ = try LoadedRules(json: bytes, sequence: 1)
            Issue.record("the document was accepted", sourceLocation: sourceLocation)
        } catch {
            let errors = error.errors
            #expect(errors.map(\.path) == expected.map(\.path), sourceLocation: sourceLocation)
            for (found, wanted) in zip(errors, expected) {
                if wanted.message.hasSuffix("…") {
                    #expect(
                        found.message.hasPrefix(wanted.message.dropLast()),
                        "\(found)",
                        sourceLocation: sourceLocation
                    )
                } else {
                    #expect(found.message == wanted.message, sourceLocation: sourceLocation)
                }
            }
        }
    }
}

extension LoadedRulesTests {
    struct LifetimeCase: Sendable, CustomTestStringConvertible {
        var name: String
        var exp: String
        var nbf: String
        var expired: Bool
        var testDescription: String { name }
    }

    static let lifetimeCases: [LifetimeCase] = [
        LifetimeCase(name: "exp at Int64.max", exp: "9223372036854775807", nbf: "0", expired: false),
        LifetimeCase(name: "exp at Int64.min", exp: "-9223372036854775808", nbf: "0", expired: true),
        LifetimeCase(name: "nbf at Int64.min", exp: "1900000000", nbf: "-9223372036854775808", expired: false),
        LifetimeCase(name: "nbf at Int64.max", exp: "1900000000", nbf: "9223372036854775807", expired: true),
    ]

    /// docs/semantics.md, "Stage 1: authentication": lifetimes are compared with the clock skew without overflowing.
    @Test("token lifetimes at the ends of Int64 are decided, not trapped", arguments: lifetimeCases)
    func extremeLifetimes(_ testCase: LifetimeCase) throws {
        let rules = try LoadedRules(json: Self.document(keys: [Fixture.rsaSigner.publicJWK]), sequence: 1)
        let token = Fixture.rsaSigner.sign(
            claims: Fixture.claims(setting: [("exp", testCase.exp), ("nbf", testCase.nbf)])
        )
        let request = CheckRequest(
            vault: "contoso-prod",
            operation: .getSecret,
            sourceAddress: "203.0.113.9",
            token: token
        )
        let decision = rules.snapshot.evaluate(
            request,
            verifier: rules.verifier,
            context: EvaluationContext(now: 1_800_000_000)
        )
        if testCase.expired {
            #expect(decision.innerCode == .tokenExpired && decision.httpStatus == 401)
        } else {
            #expect(decision.httpStatus == 403 && decision.stage != .authentication)
        }
    }
}
