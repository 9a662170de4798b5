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
public struct TokenFingerprinter: Sendable {
    private let key = SymmetricKey(size: .bits256)

    public init() {}

    /// The fingerprint of the whole token's bytes: a token that differs from another anywhere, in
    /// its payload as in its signature, has another fingerprint.
    public func fingerprint(_ token: Substring) -> TokenFingerprint {
        let code =
            token.utf8.withContiguousStorageIfAvailable {
                HMAC<SHA256>.authenticationCode(for: UnsafeRawBufferPointer($0), using: key)
            } ?? HMAC<SHA256>.authenticationCode(for: Array(token.utf8), using: key)
        return code.withUnsafeBytes {
            TokenFingerprint(
                high: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                low: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            )
        }
    }
}
