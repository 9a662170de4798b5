import MoatCore
import MoatIdentity
import MoatTestSupport
import Testing

@Suite("JWTVerifier")
struct JWTVerifierTests {
    // MARK: Round trips

    @Test("a signed token verifies and every claim is read", arguments: ["RS256", "ES256"])
    func roundTrip(algorithm: String) throws {
        let signer = algorithm == "RS256" ? Fixture.rsaSigner : Fixture.p256Signer
        let claims = Fixture.claims(setting: [
            ("groups", #"["g1","g2"]"#),
            (
                "xms_mirid",
                #""/subscriptions/s/resourcegroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u""#
            ),
            ("xms_az_rid", #""/subscriptions/s/resourceGroups/r/providers/Microsoft.Web/sites/app""#),
        ])
        let token = signer.sign(claims: claims)
        let result = Fixture.verifier.verify(token[...])
        #expect(result.isVerified)
        let parsed = try #require(result.claims)
        #expect(parsed.issuer == Fixture.issuer)
        #expect(parsed.tenantId == Fixture.tenant)
        #expect(parsed.objectId == "22222222-2222-4222-8222-222222222222")
        #expect(parsed.applicationId == "11111111-1111-4111-8111-111111111111")
        #expect(parsed.audiences == ["https://vault.azure.net"])
        #expect(parsed.expiresAt == 1_900_000_000)
        #expect(parsed.notBefore == 1_600_000_000)
        #expect(parsed.groups == ["g1", "g2"])
        #expect(parsed.hasGroupOverage == false)
        #expect(parsed.managedIdentityResourceId.hasSuffix("userAssignedIdentities/u"))
        #expect(parsed.azureResourceId.hasSuffix("Microsoft.Web/sites/app"))
    }

    @Test("the tenant id selects keys case-insensitively")
    func upperCaseTenant() {
        let token = Fixture.rsaSigner.sign(
            claims: Fixture.claims(setting: [("tid", "\"\(Fixture.tenant.uppercased())\"")])
        )
        #expect(Fixture.verifier.verify(token[...]).isVerified)
    }

    @Test("keys are selected per tenant: the same key under another tenant's kid")
    func otherTenantKey() {
        let claims = Fixture.claims(setting: [("tid", "\"\(Fixture.otherTenant)\"")])
        let token = Fixture.token(header: #"{"alg":"RS256","kid":"other-1"}"#, claims: claims)
        #expect(Fixture.verifier.verify(token[...]).isVerified)
        // rsa-1 is not a key of the other tenant.
        let wrongKid = Fixture.token(claims: claims)
        #expect(Fixture.verifier.verify(wrongKid[...]).signatureFailure?.hasPrefix("AKV10046") == true)
    }

    // MARK: Claims

    struct ClaimCase: Sendable, CustomTestStringConvertible {
        var name: String
        var changes: [(String, String)]
        var removed: [String] = []
        var check: @Sendable (TokenClaims) -> Bool
        var testDescription: String { name }
    }

    static let claimCases: [ClaimCase] = [
        ClaimCase(name: "aud as a string", changes: [("aud", #""https://vault.azure.net""#)]) {
            $0.audiences == ["https://vault.azure.net"]
        },
        ClaimCase(name: "aud as an array", changes: [("aud", #"["api://x","cfa8b339-82a2-471a-a3c9-0fc0be7a4093"]"#)]) {
            $0.audiences == ["api://x", "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"]
        },
        ClaimCase(name: "aud as an empty array", changes: [("aud", "[]")]) { $0.audiences.isEmpty },
        ClaimCase(name: "aud absent", changes: [], removed: ["aud"]) { $0.audiences.isEmpty },
        ClaimCase(name: "v2 azp", changes: [("azp", #""azp-app""#)], removed: ["appid"]) {
            $0.applicationId == "azp-app"
        },
        ClaimCase(name: "appid wins over azp", changes: [("azp", #""azp-app""#)]) {
            $0.applicationId == "11111111-1111-4111-8111-111111111111"
        },
        ClaimCase(name: "no client id", changes: [], removed: ["appid"]) { $0.applicationId == "" },
        ClaimCase(name: "fractional exp floored", changes: [("exp", "1900000000.9")]) { $0.expiresAt == 1_900_000_000 },
        ClaimCase(name: "exponent exp", changes: [("exp", "1.9e9")]) { $0.expiresAt == 1_900_000_000 },
        ClaimCase(name: "negative fractional nbf floored", changes: [("nbf", "-1.5")]) { $0.notBefore == -2 },
        ClaimCase(name: "nbf absent", changes: [], removed: ["nbf"]) { $0.notBefore == nil },
        ClaimCase(name: "groups listed", changes: [("groups", #"["a","b"]"#)]) {
            $0.groups == ["a", "b"] && !$0.hasGroupOverage
        },
        ClaimCase(name: "overage via _claim_names.groups", changes: [("_claim_names", #"{"groups":"src1"}"#)]) {
            $0.hasGroupOverage && $0.groups.isEmpty
        },
        ClaimCase(name: "_claim_names without groups", changes: [("_claim_names", #"{"wids":"src2"}"#)]) {
            !$0.hasGroupOverage
        },
        ClaimCase(name: "overage via hasgroups true", changes: [("hasgroups", "true")]) { $0.hasGroupOverage },
        ClaimCase(name: "hasgroups false", changes: [("hasgroups", "false")]) { !$0.hasGroupOverage },
        ClaimCase(name: "no group claims", changes: []) { !$0.hasGroupOverage && $0.groups.isEmpty },
        ClaimCase(name: "tid absent", changes: [], removed: ["tid"]) { $0.tenantId == "" },
        ClaimCase(name: "iss absent (the engine refuses it as InvalidIssuer)", changes: [], removed: ["iss"]) {
            $0.issuer == ""
        },
        ClaimCase(name: "null claims are absent", changes: [("oid", "null"), ("groups", "null"), ("nbf", "null")]) {
            $0.objectId == "" && $0.groups.isEmpty && $0.notBefore == nil
        },
        ClaimCase(name: "unknown claims ignored", changes: [("custom", #"{"deep":[1,2,{"x":null}]}"#)]) {
            $0.objectId == "22222222-2222-4222-8222-222222222222"
        },
    ]

    @Test("claims are read as Entra writes them", arguments: claimCases)
    func claims(_ testCase: ClaimCase) throws {
        let token = Fixture.rsaSigner.sign(
            claims: Fixture.claims(setting: testCase.changes, removing: testCase.removed)
        )
        let claims = try #require(Fixture.verifier.verify(token[...]).claims)
        #expect(testCase.check(claims))
    }

    // MARK: Malformed tokens

    struct MalformedCase: Sendable, CustomTestStringConvertible {
        var name: String
        var token: String
        /// The reason, or its beginning when it ends with "…".
        var reason: String
        var testDescription: String { name }
    }

    static let goodHeader = Fixture.segment(#"{"alg":"RS256","kid":"rsa-1"}"#)
    static let goodPayload = Fixture.segment(Fixture.claimsText)

    static func claimsCase(
        _ name: String,
        set changes: [(String, String)] = [],
        remove: [String] = [],
        reason: String
    )
        -> MalformedCase
    {
        MalformedCase(
            name: name,
            token: Fixture.token(claims: Fixture.claims(setting: changes, removing: remove)),
            reason: reason
        )
    }

    static let segments = "not a JWS compact token: expected 3 dot-separated segments (header.payload.signature), found"

    static let malformedCases: [MalformedCase] = [
        MalformedCase(name: "empty", token: "", reason: "\(segments) 1"),
        MalformedCase(name: "one segment", token: goodHeader, reason: "\(segments) 1"),
        MalformedCase(name: "two segments", token: "\(goodHeader).\(goodPayload)", reason: "\(segments) 2"),
        MalformedCase(name: "four segments", token: "a.b.c.d", reason: "\(segments) 4"),
        MalformedCase(name: "JWE", token: "a.b.c.d.e", reason: "\(segments) 5 (an encrypted JWE token?)"),
        MalformedCase(
            name: "header not base64url",
            token: "e+J.\(goodPayload).AAAA",
            reason: "the header is not base64url"
        ),
        MalformedCase(
            name: "header padding bits",
            token: "eB.\(goodPayload).AAAA",
            reason: "the header is not base64url"
        ),
        MalformedCase(
            name: "header not JSON",
            token: Fixture.token(header: "alg: RS256", payload: Fixture.claimsText),
            reason: "the header is not JSON (…"
        ),
        MalformedCase(name: "empty header", token: ".\(goodPayload).AAAA", reason: "the header is not JSON (…"),
        MalformedCase(
            name: "header an array",
            token: Fixture.token(header: #"["RS256"]"#, payload: Fixture.claimsText),
            reason: "the header is an array, not a JSON object"
        ),
        MalformedCase(
            name: "alg none",
            token: "\(Fixture.segment(#"{"alg":"none","kid":"rsa-1"}"#)).\(goodPayload).",
            reason: "unsupported alg 'none'; Moat accepts RS256 and ES256"
        ),
        MalformedCase(
            name: "alg HS256",
            token: Fixture.token(header: #"{"alg":"HS256","kid":"rsa-1"}"#, payload: Fixture.claimsText),
            reason: "unsupported alg 'HS256'; Moat accepts RS256 and ES256"
        ),
        MalformedCase(
            name: "alg RS512",
            token: Fixture.token(header: #"{"alg":"RS512","kid":"rsa-1"}"#, payload: Fixture.claimsText),
            reason: "unsupported alg 'RS512'; Moat accepts RS256 and ES256"
        ),
        MalformedCase(
            name: "alg lower case",
            token: Fixture.token(header: #"{"alg":"rs256","kid":"rsa-1"}"#, payload: Fixture.claimsText),
            reason: "unsupported alg 'rs256'; Moat accepts RS256 and ES256"
        ),
        MalformedCase(
            name: "alg missing",
            token: Fixture.token(header: #"{"kid":"rsa-1","typ":"JWT"}"#, payload: Fixture.claimsText),
            reason: "the header has no alg; Moat accepts RS256 and ES256"
        ),
        MalformedCase(
            name: "alg a number",
            token: Fixture.token(header: #"{"alg":256,"kid":"rsa-1"}"#, payload: Fixture.claimsText),
            reason: "header parameter 'alg' must be a string, found a number"
        ),
        MalformedCase(
            name: "alg very long",
            token: Fixture.token(header: "{\"alg\":\"\(String(repeating: "X", count: 5000))\"}", payload: "{}"),
            reason: "unsupported alg '\(String(repeating: "X", count: Echo.limit))…'; Moat accepts RS256 and ES256"
        ),
        MalformedCase(
            name: "kid a number",
            token: Fixture.token(header: #"{"alg":"RS256","kid":1}"#, payload: Fixture.claimsText),
            reason: "header parameter 'kid' must be a string, found a number"
        ),
        MalformedCase(
            name: "crit",
            token: Fixture.token(header: #"{"alg":"RS256","kid":"rsa-1","crit":["exp"]}"#, payload: Fixture.claimsText),
            reason: "the header lists critical extensions ('crit'); Moat supports none"
        ),
        MalformedCase(
            name: "payload not base64url",
            token: "\(goodHeader).a*b.AAAA",
            reason: "the payload is not base64url"
        ),
        MalformedCase(
            name: "payload not JSON",
            token: Fixture.token(header: #"{"alg":"RS256","kid":"rsa-1"}"#, payload: "{\"iss\":"),
            reason: "the payload is not JSON (…"
        ),
        MalformedCase(
            name: "payload a string",
            token: Fixture.token(header: #"{"alg":"RS256","kid":"rsa-1"}"#, payload: #""claims""#),
            reason: "the payload is a string, not a JSON object"
        ),
        MalformedCase(
            name: "payload with duplicate claims",
            token: Fixture.token(header: #"{"alg":"RS256","kid":"rsa-1"}"#, payload: #"{"oid":"a","oid":"b"}"#),
            reason: "the payload is not JSON (…"
        ),
        claimsCase("exp missing", remove: ["exp"], reason: "missing required claim 'exp'"),
        claimsCase("iss a number", set: [("iss", "1")], reason: "claim 'iss' must be a string, found a number"),
        claimsCase("tid a boolean", set: [("tid", "true")], reason: "claim 'tid' must be a string, found a boolean"),
        claimsCase(
            "appid an array",
            set: [("appid", #"["x"]"#)],
            reason: "claim 'appid' must be a string, found an array"
        ),
        claimsCase("azp an object", set: [("azp", "{}")], reason: "claim 'azp' must be a string, found an object"),
        claimsCase(
            "aud a number",
            set: [("aud", "1")],
            reason: "claim 'aud' must be a string or an array of strings, found a number"
        ),
        claimsCase(
            "aud array with a number",
            set: [("aud", #"["https://vault.azure.net",2]"#)],
            reason: "claim 'aud' must be a string or an array of strings, found a number at index 1"
        ),
        claimsCase(
            "exp a string",
            set: [("exp", #""1900000000""#)],
            reason: "claim 'exp' must be a number (Unix seconds), found a string"
        ),
        claimsCase("exp huge", set: [("exp", "1e300")], reason: "claim 'exp' is out of range: '1e300'"),
        claimsCase(
            "exp beyond Int64",
            set: [("exp", "9223372036854775808")],
            reason: "claim 'exp' is out of range: '9223372036854775808'"
        ),
        claimsCase(
            "nbf a boolean",
            set: [("nbf", "false")],
            reason: "claim 'nbf' must be a number (Unix seconds), found a boolean"
        ),
        claimsCase(
            "groups a string",
            set: [("groups", #""g1""#)],
            reason: "claim 'groups' must be an array of strings, found a string"
        ),
        claimsCase(
            "groups with a number",
            set: [("groups", #"["g1",7]"#)],
            reason: "claim 'groups' must be an array of strings, found a number at index 1"
        ),
        claimsCase(
            "_claim_names an array",
            set: [("_claim_names", "[]")],
            reason: "claim '_claim_names' must be an object, found an array"
        ),
        claimsCase(
            "hasgroups a string",
            set: [("hasgroups", #""true""#)],
            reason: "claim 'hasgroups' must be a boolean, found a string"
        ),
        claimsCase(
            "xms_mirid a number",
            set: [("xms_mirid", "0")],
            reason: "claim 'xms_mirid' must be a string, found a number"
        ),
        claimsCase(
            "xms_az_rid an object",
            set: [("xms_az_rid", "{}")],
            reason: "claim 'xms_az_rid' must be a string, found an object"
        ),
        MalformedCase(
            name: "signature not base64url",
            token: "\(goodHeader).\(goodPayload).AA+A",
            reason: "the signature is not base64url"
        ),
        MalformedCase(
            name: "empty signature",
            token: "\(goodHeader).\(goodPayload).",
            reason: "the token is unsigned (empty signature segment)"
        ),
    ]

    @Test("malformed tokens are refused with a precise reason", arguments: malformedCases)
    func malformed(_ testCase: MalformedCase) throws {
        let reason = try #require(Fixture.verifier.verify(testCase.token[...]).malformedReason)
        if testCase.reason.hasSuffix("…") {
            #expect(reason.hasPrefix(testCase.reason.dropLast()), "\(reason)")
        } else {
            #expect(reason == testCase.reason)
        }
    }

    // MARK: Hostile tokens (issue 8: H1, M2, L2, L8)

    struct ControlCase: Sendable, CustomTestStringConvertible {
        var name: String
        var header = #"{"alg":"RS256","kid":"rsa-1","typ":"JWT"}"#
        var payload: String
        var reason: String
        var testDescription: String { name }
    }

    static func controls(_ code: String, _ place: String, part: String = "payload") -> String {
        "the \(part) holds a control character (U+\(code)) in \(place); Moat refuses control characters in tokens"
    }

    static let controlCases: [ControlCase] = [
        ControlCase(
            name: "NUL as the issuer, nothing else",
            payload: #"{"iss":"\u0000","exp":1900000000}"#,
            reason: controls("0000", "claim 'iss'")
        ),
        ControlCase(
            name: "a line feed in oid",
            payload: Fixture.claims(setting: [("oid", #""a\nb""#)]).serialized(.compact),
            reason: controls("000A", "claim 'oid'")
        ),
        ControlCase(
            name: "DEL in an unknown claim",
            payload: Fixture.claims(setting: [("note", #""\u007f""#)]).serialized(.compact),
            reason: controls("007F", "claim 'note'")
        ),
        ControlCase(
            name: "a C1 control nested in groups",
            payload: Fixture.claims(setting: [("groups", #"["g1",{"x":"\u0085"}]"#)]).serialized(.compact),
            reason: controls("0085", "claim 'groups'")
        ),
        ControlCase(
            name: "NUL in a claim name",
            payload: #"{"exp":1900000000,"\u0000":1}"#,
            reason: controls("0000", "a claim name")
        ),
        ControlCase(
            name: "an escape in the kid",
            header: #"{"alg":"RS256","kid":"rsa-1\u001b[2J"}"#,
            payload: Fixture.claimsText,
            reason: controls("001B", "header parameter 'kid'", part: "header")
        ),
        ControlCase(
            name: "NUL as the alg",
            header: #"{"alg":"\u0000"}"#,
            payload: Fixture.claimsText,
            reason: controls("0000", "header parameter 'alg'", part: "header")
        ),
    ]

    @Test(
        "a control character in the header or the claims is InvalidToken, and the reason does not echo it",
        arguments: controlCases
    )
    func controlCharacters(_ testCase: ControlCase) throws {
        // Signed with the tenant's key: the refusal is about the content, not the signature.
        let token = Fixture.token(header: testCase.header, payload: testCase.payload)
        let reason = try #require(Fixture.verifier.verify(token[...]).malformedReason)
        #expect(reason == testCase.reason)
        #expect(!reason.unicodeScalars.contains(where: Echo.isControl))
    }

    @Test("'=' padding is refused in every segment, even on a token that otherwise verifies")
    func padding() throws {
        let token = Fixture.rsaSigner.sign(claims: Fixture.claims)
        #expect(Fixture.verifier.verify(token[...]).isVerified)
        let parts = token.split(separator: ".").map(String.init)
        // A 256-byte RS256 signature is 342 characters unpadded: base64 pads it with "==".
        #expect(parts[2].utf8.count % 4 == 2)
        let padded = [
            ("signature", "\(parts[0]).\(parts[1]).\(parts[2])=="),
            ("payload", "\(parts[0]).\(parts[1])=.\(parts[2])"),
            ("header", "\(parts[0])=.\(parts[1]).\(parts[2])"),
        ]
        for (part, token) in padded {
            #expect(
                Fixture.verifier.verify(token[...]).malformedReason
                    == "the \(part) ends in '=' padding; JWS segments are unpadded base64url (RFC 7515 section 2)"
            )
        }
    }

    @Test("a token over 16 KiB is refused before parsing; the longest one under it verifies")
    func size() throws {
        let limit = JWTVerifier.maximumTokenBytes
        #expect(limit == 16 * 1024)
        func padded(_ count: Int) -> String {
            Fixture.rsaSigner.sign(
                claims: Fixture.claims(setting: [("pad", "\"\(String(repeating: "p", count: count))\"")])
            )
        }
        // Every 3 bytes of claims add 4 characters: start just under the limit, grow until over it.
        var count = (limit - padded(0).utf8.count) / 4 * 3 - 6
        var fitting = padded(count)
        var large = fitting
        while large.utf8.count <= limit {
            fitting = large
            count += 1
            large = padded(count)
        }
        #expect(fitting.utf8.count <= limit && fitting.utf8.count > limit - 8)
        #expect(Fixture.verifier.verify(fitting[...]).isVerified)
        #expect(
            Fixture.verifier.verify(large[...]).malformedReason
                == "the token is \(large.utf8.count) bytes; Moat parses tokens of at most 16384 bytes"
        )
    }

    @Test("values echoed in signature failures are cut at Echo.limit")
    func echoedValuesAreCut() throws {
        let kid = String(repeating: "k", count: 5000)
        let token = Fixture.token(header: "{\"alg\":\"RS256\",\"kid\":\"\(kid)\"}", claims: Fixture.claims)
        let failure = try #require(Fixture.verifier.verify(token[...]).signatureFailure)
        #expect(
            failure.hasPrefix("AKV10046: Unable to resolve the key used for signature validation. EncodedJwtHeader: '")
        )
        #expect(failure.hasSuffix("…'."))
        #expect(failure.utf8.count < 100 + Echo.limit)
    }

    // MARK: Signature failures

    struct SignatureCase: Sendable, CustomTestStringConvertible {
        var name: String
        var token: String
        var failure: String
        var testDescription: String { name }
    }

    static let invalidRSA = "[InvalidSignature] Error validating token: the signature does not verify with key 'rsa-1'."
    static let invalidEC = "[InvalidSignature] Error validating token: the signature does not verify with key 'ec-1'."

    static func akv10046(_ token: String) -> String {
        let header = token.split(separator: ".", omittingEmptySubsequences: false)[0]
        return "AKV10046: Unable to resolve the key used for signature validation. EncodedJwtHeader: '\(header)'."
    }

    static func replacingSegment(_ index: Int, of token: String, with segment: String) -> String {
        var parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        parts[index] = segment
        return parts.joined(separator: ".")
    }

    static func flippingSignatureByte(_ token: String) -> String {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        var signature = Base64URL.decode(parts[2])!
        signature[signature.count / 2] ^= 0x01
        return replacingSegment(2, of: token, with: Base64URL.encode(signature))
    }

    static let signatureCases: [SignatureCase] = {
        let rsaToken = Fixture.rsaSigner.sign(claims: Fixture.claims)
        let ecToken = Fixture.p256Signer.sign(claims: Fixture.claims)
        let otherOid = Fixture.segment(
            Fixture.claims(setting: [("oid", #""33333333-3333-4333-8333-333333333333""#)]).serialized(.compact)
        )
        let unknownKid = Fixture.token(header: #"{"alg":"RS256","kid":"rotated-away"}"#, claims: Fixture.claims)
        let noKid = Fixture.token(header: #"{"alg":"RS256"}"#, claims: Fixture.claims)
        let unknownTenant = Fixture.rsaSigner.sign(
            claims: Fixture.claims(setting: [("tid", #""99999999-9999-4999-8999-999999999999""#)])
        )
        let derLength = replacingSegment(2, of: ecToken, with: Base64URL.encode([UInt8](repeating: 0x30, count: 70)))
        return [
            SignatureCase(name: "unknown kid", token: unknownKid, failure: akv10046(unknownKid)),
            SignatureCase(name: "no kid", token: noKid, failure: akv10046(noKid)),
            SignatureCase(name: "unknown tenant", token: unknownTenant, failure: akv10046(unknownTenant)),
            SignatureCase(
                name: "RS256 tampered payload",
                token: replacingSegment(1, of: rsaToken, with: otherOid),
                failure: invalidRSA
            ),
            SignatureCase(
                name: "ES256 tampered payload",
                token: replacingSegment(1, of: ecToken, with: otherOid),
                failure: invalidEC
            ),
            SignatureCase(
                name: "RS256 tampered signature",
                token: flippingSignatureByte(rsaToken),
                failure: invalidRSA
            ),
            SignatureCase(name: "ES256 tampered signature", token: flippingSignatureByte(ecToken), failure: invalidEC),
            SignatureCase(
                name: "RS256 signature truncated",
                token: replacingSegment(
                    2,
                    of: rsaToken,
                    with: Base64URL.encode(Base64URL.decode(rsaToken.split(separator: ".")[2])!.dropLast(3))
                ),
                failure: invalidRSA
            ),
            SignatureCase(
                name: "signed by a key the document does not list, under a listed kid",
                token: Fixture.token(claims: Fixture.claims, key: .strangerRSA),
                failure: invalidRSA
            ),
            SignatureCase(
                name: "ES256 header on an RSA key",
                token: Fixture.token(header: #"{"alg":"ES256","kid":"rsa-1"}"#, claims: Fixture.claims, key: .p256),
                failure:
                    "[InvalidSignature] Error validating token: the token's alg is ES256 but key 'rsa-1' is an RSA key, "
                    + "which verifies RS256 only."
            ),
            SignatureCase(
                name: "RS256 header on an EC key",
                token: Fixture.token(header: #"{"alg":"RS256","kid":"ec-1"}"#, claims: Fixture.claims, key: .rsa),
                failure:
                    "[InvalidSignature] Error validating token: the token's alg is RS256 but key 'ec-1' is an EC P-256 "
                    + "key, which verifies ES256 only."
            ),
            SignatureCase(
                name: "ES256 signature of the wrong length",
                token: derLength,
                failure:
                    "[InvalidSignature] Error validating token: an ES256 signature is 64 bytes (r || s), found 70; "
                    + "the signature does not verify with key 'ec-1'."
            ),
        ]
    }()

    @Test("a token whose signature does not verify still parses, with the reason", arguments: signatureCases)
    func signatureFailure(_ testCase: SignatureCase) throws {
        let result = Fixture.verifier.verify(testCase.token[...])
        #expect(result.signatureFailure == testCase.failure)
        // The engine needs the claims to check the issuer before it reports the signature.
        #expect(try #require(result.claims).issuer.isEmpty == false)
    }

    @Test("a verifier with no keys resolves no key")
    func noKeys() throws {
        let verifier = try JWTVerifier(tenants: [])
        let token = Fixture.rsaSigner.sign(claims: Fixture.claims)
        #expect(verifier.verify(token[...]).signatureFailure == Self.akv10046(token))
    }

    // MARK: Hostile input

    @Test("every truncation of a valid token is refused")
    func truncations() {
        let token = Fixture.rsaSigner.sign(claims: Fixture.claims)
        for length in 0..<token.utf8.count {
            let result = Fixture.verifier.verify(token.prefix(length))
            #expect(!result.isVerified, "verified at length \(length)")
        }
        #expect(Fixture.verifier.verify(token[...]).isVerified)
    }

    @Test("changing any one character of a valid token makes it fail", arguments: ["RS256", "ES256"])
    func singleCharacterChanges(algorithm: String) {
        let signer = algorithm == "RS256" ? Fixture.rsaSigner : Fixture.p256Signer
        let token = Array(signer.sign(claims: Fixture.claims).utf8)
        var verifiedMutations: [Int] = []
        for index in token.indices {
            var mutated = token
            mutated[index] = token[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            if Fixture.verifier.verify(String(decoding: mutated, as: UTF8.self)[...]).isVerified {
                verifiedMutations.append(index)
            }
        }
        #expect(verifiedMutations.isEmpty)
    }

    @Test("random input never verifies, traps or throws")
    func randomInput() {
        var generator = SplitMix64(seed: 0x4d6f_6174)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ {}\":,é\u{0}".utf8)
        let prefix = Array((Self.goodHeader + ".").utf8)
        for round in 0..<3000 {
            let length = Int(generator.next() % 400)
            var bytes: [UInt8] = round.isMultiple(of: 3) ? prefix : []
            for _ in 0..<length {
                bytes.append(
                    round.isMultiple(of: 2)
                        ? alphabet[Int(generator.next() % UInt64(alphabet.count))]
                        : UInt8(truncatingIfNeeded: generator.next())
                )
            }
            let result = Fixture.verifier.verify(String(decoding: bytes, as: UTF8.self)[...])
            #expect(!result.isVerified)
        }
    }

    @Test("random but well-formed segments parse or are refused, never verify")
    func randomSegments() {
        var generator = SplitMix64(seed: 7)
        for _ in 0..<500 {
            let header = Fixture.segment(#"{"alg":"RS256","kid":"rsa-1"}"#)
            let payload = Base64URL.encode(
                (0..<Int(generator.next() % 300)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            )
            let signature = Base64URL.encode((0..<256).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
            #expect(!Fixture.verifier.verify("\(header).\(payload).\(signature)"[...]).isVerified)
        }
    }

    @Test("huge and deeply nested segments are refused without trapping")
    func hugeSegments() {
        let huge = String(repeating: "A", count: 4 << 20)
        #expect(
            Fixture.verifier.verify("\(huge).\(Self.goodPayload).AAAA"[...]).malformedReason?.hasPrefix(
                "the token is \(huge.utf8.count + Self.goodPayload.utf8.count + 6) bytes"
            ) == true
        )
        let deep = Fixture.segment(String(repeating: "[", count: 10_000))
        #expect(
            Fixture.verifier.verify("\(deep).\(Self.goodPayload).AAAA"[...]).malformedReason?.hasPrefix(
                "the header is not JSON"
            ) == true
        )
        let bigClaims = Fixture.claims(setting: [
            ("groups", "[" + Array(repeating: "\"g\"", count: 2_500).joined(separator: ",") + "]")
        ])
        let token = Fixture.rsaSigner.sign(claims: bigClaims)
        #expect(Fixture.verifier.verify(token[...]).claims?.groups.count == 2_500)
        let dots = String(repeating: ".", count: 16_000)
        #expect(Fixture.verifier.verify(dots[...]).malformedReason?.hasSuffix("found 16001") == true)
    }

    @Test("a token inside a larger string verifies as a substring")
    func substringToken() {
        let token = Fixture.rsaSigner.sign(claims: Fixture.claims)
        let carrier = "Bearer \(token) trailing"
        let start = carrier.index(carrier.startIndex, offsetBy: 7)
        let end = carrier.index(start, offsetBy: token.count)
        #expect(Fixture.verifier.verify(carrier[start..<end]).isVerified)
    }
}
