internal import Crypto
public import MoatCore
internal import _CryptoExtras

/// Signs test and demo tokens (RS256 or ES256) that a `JWTVerifier` accepts once the signer's
/// `publicJWK` is listed in a document's `tenants[].jwks.keys`.
///
/// For `moatctl token mint` and tests only: the server never signs anything, so this type is the
/// one place private keys are handled.
///
/// ```swift
/// let signer = try TokenSigner(pem: try String(contentsOfFile: "demo-signing-key.pem"))
/// let token = signer.sign(claims: .object([("iss", .string(issuer)), ("exp", .number("1900000000"))]))
/// // paste signer.publicJWK.serialized(.pretty) into tenants[].jwks.keys
/// ```
public struct TokenSigner: Sendable {
    private enum Key: Sendable {
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
    }

    private let key: Key
    /// The public JWK members that identify the key (`n`/`e` or `crv`/`x`/`y`), base64url.
    private let publicMembers: [(key: String, value: JSONValue)]

    /// `kid` written in each token's header and in `publicJWK`; by default the key's RFC 7638 thumbprint.
    public var keyID: String

    /// Reads an unencrypted RSA (2048 bits or more) or P-256 private key from PEM: PKCS#8
    /// (`BEGIN PRIVATE KEY`), PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC 1 (`BEGIN EC PRIVATE KEY`).
    ///
    /// Text before the `-----BEGIN` line and after the matching `-----END` line is ignored, so a key
    /// file may start with comment lines saying what it is.
    public init(pem: String, keyID: String? = nil) throws(TokenSignerError) {
        let (label, block) = try Self.pemBlock(pem)
        let key: Key
        switch label {
        case "RSA PRIVATE KEY":
            key = .rsa(try Self.rsaKey(block))
        case "EC PRIVATE KEY":
            key = .p256(try Self.p256Key(block, label: label))
        case "PRIVATE KEY":
            // PKCS#8 names its algorithm inside the DER; try the curve first (pure Swift, cheap).
            if let p256 = try? P256.Signing.PrivateKey(pemRepresentation: block) {
                key = .p256(p256)
            } else {
                key = .rsa(try Self.rsaKey(block))
            }
        case "ENCRYPTED PRIVATE KEY":
            throw TokenSignerError(
                code: .unsupportedKey,
                message: "the key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN-KEY)"
            )
        default:
            throw TokenSignerError(
                code: .unsupportedKey,
                message: "'\(label)' is not a private key; expected an RSA or P-256 private key in PEM"
            )
        }
        self.key = key
        let thumbprint: String
        switch key {
        case .rsa(let privateKey):
            let (modulus, exponent) = Self.rsaNumbers(privateKey.publicKey)
            publicMembers = [("n", .string(Base64URL.encode(modulus))), ("e", .string(Base64URL.encode(exponent)))]
            thumbprint = JWKThumbprint.rsa(modulus: modulus, exponent: exponent)
        case .p256(let privateKey):
            let point = Array(privateKey.publicKey.rawRepresentation)  // x || y, 32 bytes each
            let x = Array(point.prefix(32))
            let y = Array(point.suffix(32))
            publicMembers = [
                ("crv", .string("P-256")), ("x", .string(Base64URL.encode(x))), ("y", .string(Base64URL.encode(y))),
            ]
            thumbprint = JWKThumbprint.p256(x: x, y: y)
        }
        self.keyID = keyID ?? thumbprint
    }

    /// `RS256` for an RSA key, `ES256` for a P-256 key.
    public var algorithm: String {
        switch key {
        case .rsa: "RS256"
        case .p256: "ES256"
        }
    }

    /// The public half as a JWK (`kty`, `kid`, `use`, `alg` and the key's numbers), ready to paste
    /// into a document's `tenants[].jwks.keys`.
    public var publicJWK: JSONValue {
        let keyType: JSONValue
        switch key {
        case .rsa: keyType = .string("RSA")
        case .p256: keyType = .string("EC")
        }
        return .object(
            [("kty", keyType), ("kid", .string(keyID)), ("use", .string("sig")), ("alg", .string(algorithm))]
                + publicMembers
        )
    }

    /// A compact JWS over `claims` (which should be a JSON object), with header
    /// `{"alg":…,"kid":…,"typ":"JWT"}`. RS256 tokens are deterministic; ES256 signatures are not.
    public func sign(claims: JSONValue) -> String {
        let header: JSONValue = .object([
            ("alg", .string(algorithm)), ("kid", .string(keyID)), ("typ", .string("JWT")),
        ])
        let signingInput =
            Base64URL.encode(header.serialized(.compact).utf8) + "."
            + Base64URL.encode(claims.serialized(.compact).utf8)
        let digest = SHA256.hash(data: Array(signingInput.utf8))
        let signature: [UInt8]
        do {
            switch key {
            case .rsa(let privateKey):
                signature = Array(try privateKey.signature(for: digest, padding: .insecurePKCS1v1_5).rawRepresentation)
            case .p256(let privateKey):
                signature = Array(try privateKey.signature(for: digest).rawRepresentation)
            }
        } catch {
            // Signing with a key swift-crypto imported fails only if BoringSSL itself does.
            preconditionFailure("swift-crypto could not sign with an imported key: \(error)")
        }
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// The first PEM block of `text`: its label and the block itself from `-----BEGIN` to `-----END`.
    private static func pemBlock(_ text: String) throws(TokenSignerError) -> (label: String, block: String) {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingTrailingWhitespace() }
        guard let begin = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN ") && $0.hasSuffix("-----") }) else {
            throw TokenSignerError(code: .invalidPEM, message: "no '-----BEGIN ...-----' line: not a PEM key file")
        }
        let label = String(lines[begin].dropFirst("-----BEGIN ".count).dropLast("-----".count))
        guard let end = lines[begin...].firstIndex(of: "-----END \(label)-----") else {
            throw TokenSignerError(code: .invalidPEM, message: "no '-----END \(label)-----' line after the BEGIN line")
        }
        return (label, lines[begin...end].joined(separator: "\n") + "\n")
    }

    private static func rsaKey(_ block: String) throws(TokenSignerError) -> _RSA.Signing.PrivateKey {
        let key: _RSA.Signing.PrivateKey
        do {
            // The unsafe variant takes 1024-bit keys too, so that a short key gets a message saying so.
            key = try _RSA.Signing.PrivateKey(unsafePEMRepresentation: block)
        } catch {
            throw TokenSignerError(
                code: .unsupportedKey,
                message: "not an RSA or P-256 private key that swift-crypto can read",
                cause: error
            )
        }
        guard key.keySizeInBits >= 2048 else {
            throw TokenSignerError(
                code: .keyRefused,
                message: "RSA key of \(key.keySizeInBits) bits; Moat verifies 2048-bit or larger keys only"
            )
        }
        return key
    }

    private static func p256Key(_ block: String, label: String) throws(TokenSignerError) -> P256.Signing.PrivateKey {
        do {
            return try P256.Signing.PrivateKey(pemRepresentation: block)
        } catch {
            throw TokenSignerError(
                code: .unsupportedKey,
                message: "'\(label)' is not a P-256 key; Moat signs ES256 with P-256 only",
                cause: error
            )
        }
    }

    /// `n` and `e` as unsigned big-endian bytes without leading zeros (as JWK and RFC 7638 want).
    private static func rsaNumbers(_ key: _RSA.Signing.PublicKey) -> (modulus: [UInt8], exponent: [UInt8]) {
        do {
            let primitives = try key.getKeyPrimitives()
            return (Array(primitives.modulus.drop { $0 == 0 }), Array(primitives.publicExponent.drop { $0 == 0 }))
        } catch {
            preconditionFailure("swift-crypto could not export an imported RSA key: \(error)")
        }
    }
}

extension Substring {
    fileprivate func trimmingTrailingWhitespace() -> Substring {
        var trimmed = self
        while let last = trimmed.last, last.isWhitespace { trimmed = trimmed.dropLast() }
        return trimmed
    }
}
