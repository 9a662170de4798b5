import Crypto
import Foundation
import MoatCore
import Testing
import _CryptoExtras

@testable import MoatIdentity

@Suite("TokenSigner")
struct TokenSignerTests {
    /// A P-256 key as SEC 1 `EC PRIVATE KEY` PEM, which swift-crypto does not write: built by hand
    /// from RFC 5915's ECPrivateKey structure.
    static func sec1PEM(_ key: P256.Signing.PrivateKey) -> String {
        let der: [UInt8] =
            [0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20] + Array(key.rawRepresentation)
            + [0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]
            + [0xa1, 0x44, 0x03, 0x42, 0x00] + Array(key.publicKey.x963Representation)
        return pem("EC PRIVATE KEY", der)
    }

    static func pem(_ label: String, _ der: some DataProtocol) -> String {
        let body = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN \(label)-----\n\(body)\n-----END \(label)-----\n"
    }

    struct FormatCase: Sendable, CustomTestStringConvertible {
        var name: String
        var pem: String
        var algorithm: String
        var testDescription: String { name }
    }

    static let formatCases: [FormatCase] = {
        let rsa = Fixture.rsaKey
        let p256 = Fixture.p256Key
        let comment = "# DEMO KEY - NOT A SECRET\n# -----BEGIN is mentioned here but this is not a PEM line\n\n"
        return [
            FormatCase(name: "RSA PKCS#1", pem: rsa.pemRepresentation, algorithm: "RS256"),
            FormatCase(name: "RSA PKCS#8", pem: rsa.pkcs8PEMRepresentation, algorithm: "RS256"),
            FormatCase(name: "P-256 PKCS#8", pem: p256.pemRepresentation, algorithm: "ES256"),
            FormatCase(name: "P-256 SEC 1", pem: sec1PEM(p256), algorithm: "ES256"),
            FormatCase(name: "RSA after comment lines", pem: comment + rsa.pkcs8PEMRepresentation, algorithm: "RS256"),
            FormatCase(
                name: "P-256 with CRLF and trailing text",
                pem: (comment + p256.pemRepresentation).replacingOccurrences(of: "\n", with: "\r\n")
                    + "\r\ntrailing notes\r\n",
                algorithm: "ES256"
            ),
        ]
    }()

    @Test("reads RSA and P-256 keys in every PEM form", arguments: formatCases)
    func formats(_ testCase: FormatCase) throws {
        let signer = try TokenSigner(pem: testCase.pem, keyID: "k")
        #expect(signer.algorithm == testCase.algorithm)
        // The same key as the fixture's, so the fixture verifier accepts its tokens under the fixture's kid.
        var renamed = signer
        renamed.keyID = testCase.algorithm == "RS256" ? "rsa-1" : "ec-1"
        #expect(renamed.publicJWK == (testCase.algorithm == "RS256" ? Fixture.rsaSigner : Fixture.p256Signer).publicJWK)
        #expect(Fixture.verifier.verify(renamed.sign(claims: Fixture.claims)[...]).isVerified)
    }

    @Test("the bundled demo key file signs RS256")
    func demoKey() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appending(path: "deploy/examples/demo-signing-key.pem"), encoding: .utf8)
        #expect(text.hasPrefix("#"))
        let signer = try TokenSigner(pem: text)
        #expect(signer.algorithm == "RS256")
        #expect(signer.keyID.utf8.count == 43)
    }

    @Test("the JWK thumbprint matches RFC 7638's example")
    func rfc7638Example() throws {
        // RFC 7638 section 3.1.
        let n =
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
            + "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgd"
            + "AZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
            + "Cur-kEgU8awapJzKnqDKgw"
        let thumbprint = JWKThumbprint.rsa(
            modulus: try #require(Base64URL.decode(n)),
            exponent: try #require(Base64URL.decode("AQAB"))
        )
        #expect(thumbprint == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    }

    /// The canonical JSON of RFC 7638 section 3.2, written out by hand for each key type.
    static func expectedThumbprint(_ jwk: JSONValue) -> String {
        let members: String
        if jwk["kty"] == .string("RSA") {
            members = #"{"e":"\#(jwk["e"]!.stringValue!)","kty":"RSA","n":"\#(jwk["n"]!.stringValue!)"}"#
        } else {
            members = #"{"crv":"P-256","kty":"EC","x":"\#(jwk["x"]!.stringValue!)","y":"\#(jwk["y"]!.stringValue!)"}"#
        }
        return Base64URL.encode(SHA256.hash(data: Array(members.utf8)))
    }

    @Test("the default kid is the key's thumbprint", arguments: ["RS256", "ES256"])
    func defaultKeyID(algorithm: String) throws {
        let pem = algorithm == "RS256" ? Fixture.rsaKey.pemRepresentation : Fixture.p256Key.pemRepresentation
        let signer = try TokenSigner(pem: pem)
        #expect(signer.keyID == Self.expectedThumbprint(signer.publicJWK))
        #expect(signer.publicJWK["kid"] == .string(signer.keyID))
    }

    @Test("the public JWK has what a document's JWKS needs, and nothing private")
    func publicJWK() throws {
        let rsa = Fixture.rsaSigner.publicJWK
        #expect(rsa.objectValue?.map(\.key) == ["kty", "kid", "use", "alg", "n", "e"])
        #expect(rsa["kty"] == .string("RSA"))
        #expect(rsa["use"] == .string("sig"))
        #expect(rsa["alg"] == .string("RS256"))
        #expect(rsa["e"] == .string("AQAB"))
        #expect(Base64URL.decode(rsa["n"]?.stringValue ?? "")?.count == 256)
        let ec = Fixture.p256Signer.publicJWK
        #expect(ec.objectValue?.map(\.key) == ["kty", "kid", "use", "alg", "crv", "x", "y"])
        #expect(ec["kty"] == .string("EC"))
        #expect(ec["alg"] == .string("ES256"))
        #expect(ec["crv"] == .string("P-256"))
        #expect(Base64URL.decode(ec["x"]?.stringValue ?? "")?.count == 32)
        #expect(Base64URL.decode(ec["y"]?.stringValue ?? "")?.count == 32)
    }

    @Test("tokens carry a compact alg/kid/typ header and the claims as given", arguments: ["RS256", "ES256"])
    func tokenShape(algorithm: String) throws {
        let signer = algorithm == "RS256" ? Fixture.rsaSigner : Fixture.p256Signer
        let parts = signer.sign(claims: Fixture.claims).split(separator: ".", omittingEmptySubsequences: false)
        try #require(parts.count == 3)
        let header = String(decoding: try #require(Base64URL.decode(parts[0])), as: UTF8.self)
        #expect(header == #"{"alg":"\#(algorithm)","kid":"\#(signer.keyID)","typ":"JWT"}"#)
        #expect(
            Base64URL.decode(parts[1]).map { String(decoding: $0, as: UTF8.self) }
                == Fixture.claims.serialized(.compact)
        )
        #expect(Base64URL.decode(parts[2])?.count == (algorithm == "RS256" ? 256 : 64))
    }

    @Test("RS256 signing is deterministic; ES256 tokens differ but both verify")
    func determinism() {
        #expect(Fixture.rsaSigner.sign(claims: Fixture.claims) == Fixture.rsaSigner.sign(claims: Fixture.claims))
        let first = Fixture.p256Signer.sign(claims: Fixture.claims)
        let second = Fixture.p256Signer.sign(claims: Fixture.claims)
        #expect(first != second)
        #expect(Fixture.verifier.verify(first[...]).isVerified && Fixture.verifier.verify(second[...]).isVerified)
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var name: String
        var pem: String
        var code: TokenSignerError.Code
        var message: String
        var testDescription: String { name }
    }

    static let errorCases: [ErrorCase] = {
        let p384 = P384.Signing.PrivateKey()
        let weakRSA = try! _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024))
        return [
            ErrorCase(
                name: "empty",
                pem: "",
                code: .invalidPEM,
                message: "no '-----BEGIN ...-----' line: not a PEM key file"
            ),
            ErrorCase(
                name: "no END line",
                pem: String(Fixture.rsaKey.pkcs8PEMRepresentation.prefix(200)),
                code: .invalidPEM,
                message: "no '-----END PRIVATE KEY-----' line after the BEGIN line"
            ),
            ErrorCase(
                name: "public key",
                pem: Fixture.rsaKey.publicKey.pemRepresentation,
                code: .unsupportedKey,
                message: "'PUBLIC KEY' is not a private key; expected an RSA or P-256 private key in PEM"
            ),
            ErrorCase(
                name: "encrypted key",
                pem: pem("ENCRYPTED PRIVATE KEY", [0x30, 0x00]),
                code: .unsupportedKey,
                message: "the key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN-KEY)"
            ),
            ErrorCase(
                name: "garbage inside PRIVATE KEY",
                pem: pem("PRIVATE KEY", [UInt8](repeating: 7, count: 40)),
                code: .unsupportedKey,
                message: "not an RSA or P-256 private key that swift-crypto can read"
            ),
            ErrorCase(
                name: "P-384 PKCS#8",
                pem: p384.pemRepresentation,
                code: .unsupportedKey,
                message: "not an RSA or P-256 private key that swift-crypto can read"
            ),
            ErrorCase(
                name: "P-384 under EC PRIVATE KEY",
                pem: pem("EC PRIVATE KEY", p384.derRepresentation),
                code: .unsupportedKey,
                message: "'EC PRIVATE KEY' is not a P-256 key; Moat signs ES256 with P-256 only"
            ),
            ErrorCase(
                name: "RSA 1024",
                pem: weakRSA.pemRepresentation,
                code: .keyRefused,
                message: "RSA key of 1024 bits; Moat verifies 2048-bit or larger keys only"
            ),
        ]
    }()

    @Test("unusable key files are refused with a code and a message", arguments: errorCases)
    func errors(_ testCase: ErrorCase) {
        #expect {
            _ = try TokenSigner(pem: testCase.pem)
        } throws: { error in
            guard let error = error as? TokenSignerError else { return false }
            return error.code == testCase.code && error.message == testCase.message
        }
    }
}
