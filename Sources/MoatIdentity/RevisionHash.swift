internal import Crypto

/// Names a rule document by its content (README.md, "Requests and decisions", `revision.hash`).
///
/// The hash covers the bytes as read or pushed, not a re-serialisation, so `moatctl eval` on a file and
/// `moatctl check` against a daemon that loaded the same file report the same revision, and an
/// expected-revision check can be written by hand from `sha256sum FILE | cut -c1-16`.
///
/// ```swift
/// RevisionHash.of(Array("abc".utf8))  // "ba7816bf8f01cfea"
/// ```
public enum RevisionHash {
    /// The first 16 lower-case hex digits of SHA-256 over `bytes`.
    public static func of(_ bytes: some Collection<UInt8>) -> String {
        let digest = SHA256.digest(of: bytes)
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(16)
        for byte in digest.prefix(8) {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

extension SHA256 {
    /// The digest of `bytes`, hashed in place when they are contiguous (a token's substring, a
    /// document's bytes), copied once otherwise.
    static func digest(of bytes: some Collection<UInt8>) -> SHA256Digest {
        var hasher = SHA256()
        let hashed: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            hasher.update(bufferPointer: UnsafeRawBufferPointer(buffer))
        }
        if hashed == nil {
            Array(bytes).withUnsafeBytes { hasher.update(bufferPointer: $0) }
        }
        return hasher.finalize()
    }
}
