#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A string compared and hashed with ASCII letters folded to lower case, without building the
/// folded copy: vault names, ARM resource ids and GUIDs from requests are looked up as they come.
/// Only ASCII letters fold: U+212A KELVIN SIGN is not `k`.
package struct CaseInsensitiveKey: Hashable, Sendable {
    package let value: String

    package init(_ value: String) {
        self.value = value
    }

    package static func == (lhs: CaseInsensitiveKey, rhs: CaseInsensitiveKey) -> Bool {
        // Ids usually arrive in the case they were stored in: compare bytes first.
        if lhs.value.hasSameBytes(as: rhs.value) { return true }
        guard lhs.value.utf8.count == rhs.value.utf8.count else { return false }
        let equal = lhs.value.utf8.withContiguousStorageIfAvailable { a in
            rhs.value.utf8.withContiguousStorageIfAvailable { b in
                for i in 0..<a.count where fold(a[i]) != fold(b[i]) { return false }
                return true
            }
        }
        return (equal ?? nil) ?? lhs.value.utf8.elementsEqual(rhs.value.utf8) { fold($0) == fold($1) }
    }

    /// Folds the bytes into one word, eight at a time with ASCII upper case lowered in parallel,
    /// and gives the hasher that: ids are 36 to 200 bytes, and a `combine` per byte would cost
    /// more than the lookup.
    package func hash(into hasher: inout Hasher) {
        let folded =
            value.utf8.withContiguousStorageIfAvailable(CaseInsensitiveKey.foldedHash)
            ?? Array(value.utf8).withUnsafeBufferPointer(CaseInsensitiveKey.foldedHash)
        hasher.combine(folded)
    }

    private static func foldedHash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash = UInt64(truncatingIfNeeded: bytes.count) &* 0x9e37_79b9_7f4a_7c15
        var offset = 0
        let raw = UnsafeRawBufferPointer(bytes)
        while offset < bytes.count {
            var word: UInt64 = 0
            let chunk = min(8, bytes.count - offset)
            if chunk == 8 {
                word = raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            } else {
                for i in 0..<chunk { word |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
            }
            hash = (hash ^ lowered(word)) &* 0xff51_afd7_ed55_8ccd
            hash ^= hash >> 29
            offset += 8
        }
        return hash
    }

    /// Sets bit 5 of every byte of `word` that is an ASCII capital letter (SWAR).
    @inline(__always)
    private static func lowered(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let heptets = word & (0x7f &* ones)
        let atLeastA = heptets &+ ((0x80 - 0x41) &* ones)
        let pastZ = heptets &+ ((0x80 - 0x5b) &* ones)
        let capitals = atLeastA & ~pastZ & ~word & (0x80 &* ones)
        return word | (capitals >> 2)
    }

    @inline(__always)
    static func fold(_ byte: UInt8) -> UInt8 {
        byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
    }
}

extension String {
    /// Whether the two strings have the same UTF-8 bytes; `==` also equates canonically equivalent
    /// strings (`é` and `e` + U+0301), which Moat's comparisons never do.
    package func hasSameBytes(as other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        let equal = utf8.withContiguousStorageIfAvailable { a in
            other.utf8.withContiguousStorageIfAvailable { b in
                a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
            }
        }
        return (equal ?? nil) ?? utf8.elementsEqual(other.utf8)
    }

    /// Whether the two strings are equal with ASCII letters compared case-insensitively.
    func equalsIgnoringCase(_ other: String) -> Bool {
        CaseInsensitiveKey(self) == CaseInsensitiveKey(other)
    }
}
