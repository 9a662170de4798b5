internal import Crypto
internal import MoatCore

/// RFC 7638 JWK thumbprints: the default `kid` of a key `moatctl token mint` signs with.
///
/// A thumbprint is derived from the public key alone, so the `kid` in a minted token and the one in
/// the JWK printed for the rule document agree without the operator choosing a name.
enum JWKThumbprint {
    /// Thumbprint of an RSA public key; `modulus` and `exponent` are unsigned big-endian bytes
    /// without leading zeros, as JWK `n` and `e` carry them.
    static func rsa(modulus: [UInt8], exponent: [UInt8]) -> String {
        // RFC 7638 section 3.2: required members only, sorted by name, no whitespace.
        of(
            .object([
                ("e", .string(Base64URL.encode(exponent))),
                ("kty", .string("RSA")),
                ("n", .string(Base64URL.encode(modulus))),
            ])
        )
    }

    /// Thumbprint of a P-256 public key; `x` and `y` are 32 bytes each.
    static func p256(x: [UInt8], y: [UInt8]) -> String {
        of(
            .object([
                ("crv", .string("P-256")),
                ("kty", .string("EC")),
                ("x", .string(Base64URL.encode(x))),
                ("y", .string(Base64URL.encode(y))),
            ])
        )
    }

    private static func of(_ canonical: JSONValue) -> String {
        Base64URL.encode(SHA256.hash(data: Array(canonical.serialized(.compact).utf8)))
    }
}
