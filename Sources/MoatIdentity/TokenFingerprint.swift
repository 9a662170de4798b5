internal import Crypto

/// A bearer token reduced to 128 bits by HMAC-SHA256 under a random key: what `moatd`'s token
/// cache keys its entries by, so that it holds no token and a token sender cannot choose two tokens
/// with the same fingerprint (without the key, a collision takes about 2^64 tries).
public struct TokenFingerprint: Hashable, Sendable {
    let high: UInt64
    let low: UInt64
}

/// Computes `TokenFingerprint`s under a key drawn when it is created (one per token cache), so that
/// fingerprints mean nothing outside the process.
///
/// The key is applied once, here: `keyed` holds HMAC's inner and outer hashes after the padded key
/// (`docs/security.md`, M2), and each fingerprint continues a copy of it with the token's bytes, so
/// a check hashes the token and two short finishing blocks, not the key's two blocks again
/// (`docs/performance.md`, "Cuts").
public struct TokenFingerprinter: Sendable {
    private let keyed: HMAC<SHA256>

    public init() {
        keyed = HMAC(key: SymmetricKey(size: .bits256))
    }

    /// A fingerprinter under a given key: for checking the construction against HMAC-SHA256's
    /// published test vectors.
    init(key: [UInt8]) {
        keyed = HMAC(key: SymmetricKey(data: key))
    }

    /// The fingerprint of the whole token's bytes: a token that differs from another anywhere, in
    /// its payload as in its signature, has another fingerprint.
    public func fingerprint(_ token: Substring) -> TokenFingerprint {
        var code = keyed
        var token = token
        token.withUTF8 { code.update(data: UnsafeRawBufferPointer($0)) }
        return code.finalize().withUnsafeBytes {
            TokenFingerprint(
                high: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                low: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            )
        }
    }
}
