internal import Crypto
internal import MoatCore
internal import _CryptoExtras

/// One tenant signing key, imported into swift-crypto once per snapshot so that checking a token
/// costs one signature verification and no key parsing.
enum VerificationKey: Sendable {
    case rsa(_RSA.Signing.PublicKey)
    case p256(P256.Signing.PublicKey)

    /// The JWS `alg` this key verifies; a JWKS key verifies exactly one (`docs/semantics.md`, "Stage 1: authentication").
    var algorithm: JWTAlgorithm {
        switch self {
        case .rsa: .rs256
        case .p256: .es256
        }
    }

    /// Imports every key, by `kid` (unique: the document and JWKS parsers refuse repeats); collects
    /// each refusal into `errors` instead of stopping at the first, so an operator sees them all.
    static func importing(
        _ keys: some Sequence<JSONWebKey>,
        errors: inout [ValidationError]
    ) -> [String: VerificationKey] {
        var imported: [String: VerificationKey] = [:]
        for key in keys {
            do {
                imported[key.id] = try VerificationKey(key)
            } catch {
                errors.append(error)
            }
        }
        return imported
    }

    /// Imports a key the document compiler already checked for shape.
    ///
    /// swift-crypto is stricter than the document's shape rules (for example it refuses RSA moduli
    /// under 2048 bits even when the JWK's `n` has 256 bytes), so a refusal here is reported like any
    /// other validation error: at the key's JSON path, in words an operator can act on.
    init(_ key: JSONWebKey) throws(ValidationError) {
        switch key.material {
        case .rsa(let modulus, let exponent):
            do {
                self = .rsa(try _RSA.Signing.PublicKey(n: modulus, e: exponent))
            } catch {
                throw ValidationError(
                    path: key.path,
                    message: Self.rsaRefusal(modulus: modulus, exponent: exponent, error: error)
                )
            }
        case .p256(let x, let y):
            do {
                self = .p256(try P256.Signing.PublicKey(x963Representation: [0x04] + x + y))
            } catch {
                throw ValidationError(
                    path: key.path,
                    message: "x and y are not a point on the P-256 curve; swift-crypto refused the key (\(error))"
                )
            }
        }
    }

    /// Checks a JWS signature over the SHA-256 digest of the signing input; `nil` when it verifies,
    /// else the reason, in the form the engine returns verbatim as a 401 message.
    func failure(verifying signature: [UInt8], for digest: SHA256Digest, keyID: String) -> String? {
        switch self {
        case .rsa(let key):
            let signature = _RSA.Signing.RSASignature(rawRepresentation: signature)
            if key.isValidSignature(signature, for: digest, padding: .insecurePKCS1v1_5) { return nil }
        case .p256(let key):
            // JWS carries ES256 signatures as raw r || s (RFC 7518 section 3.4), never DER.
            guard signature.count == 64, let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
            else {
                return "[InvalidSignature] Error validating token: an ES256 signature is 64 bytes (r || s), "
                    + "found \(signature.count); the signature does not verify with key \(Echo.quoted(keyID))."
            }
            if key.isValidSignature(signature, for: digest) { return nil }
        }
        return
            "[InvalidSignature] Error validating token: the signature does not verify with key \(Echo.quoted(keyID))."
    }

    /// Says why swift-crypto refused an RSA key, checking the reasons BoringSSL has in the order it
    /// checks them; falls back to swift-crypto's own error.
    private static func rsaRefusal(modulus: [UInt8], exponent: [UInt8], error: any Error) -> String {
        let modulusBits = bitLength(modulus)
        if modulusBits < 2048 {
            return "RSA modulus is \(modulusBits) bits; keys under 2048 bits are refused (swift-crypto)"
        }
        let exponentBits = bitLength(exponent)
        if exponentBits < 2 || exponent.last.map({ $0 & 1 == 0 }) ?? true {
            return "RSA public exponent must be odd and at least 3 (usually 65537, \"AQAB\")"
        }
        if exponentBits > 33 {
            return "RSA public exponent is \(exponentBits) bits; at most 33 bits are accepted (usually 65537, \"AQAB\")"
        }
        if modulus.last.map({ $0 & 1 == 0 }) ?? true {
            return "RSA modulus is even: not an RSA key"
        }
        return "swift-crypto refused the RSA key (\(error))"
    }

    /// Bits in a big-endian unsigned integer, ignoring leading zeros.
    private static func bitLength(_ bytes: [UInt8]) -> Int {
        guard let first = bytes.firstIndex(where: { $0 != 0 }) else { return 0 }
        return (bytes.count - first - 1) * 8 + (8 - bytes[first].leadingZeroBitCount)
    }
}
