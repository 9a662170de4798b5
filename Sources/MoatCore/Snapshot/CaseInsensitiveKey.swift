#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A string compared and hashed with ASCII letters folded to lower case, without building the
/// folded copy: vault names, ARM resource ids and GUIDs from requests are looked up as they come.
struct CaseInsensitiveKey: Hashable, Sendable {
    let value: String

    init(_ value: String) {
        self.value = value
    }

    static func == (lhs: CaseInsensitiveKey, rhs: CaseInsensitiveKey) -> Bool {
        guard lhs.value.utf8.count == rhs.value.utf8.count else { return false }
        let equal = lhs.value.utf8.withContiguousStorageIfAvailable { a in
            rhs.value.utf8.withContiguousStorageIfAvailable { b in
                // Ids usually arrive in the case they were stored in: compare bytes first.
                if a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 { return true }
                for i in 0..<a.count where fold(a[i]) != fold(b[i]) { return false }
                return true
            }
        }
        return (equal ?? nil) ?? lhs.value.utf8.elementsEqual(rhs.value.utf8) { fold($0) == fold($1) }
    }

    /// Folds the bytes into one word (FNV-1a over the lower-cased bytes) and gives the hasher
    /// that: ids are 36 to 200 bytes, and a `combine` per byte would cost more than the lookup.
    func hash(into hasher: inout Hasher) {
        let folded =
            value.utf8.withContiguousStorageIfAvailable(CaseInsensitiveKey.fnv1a)
            ?? Array(value.utf8).withUnsafeBufferPointer(CaseInsensitiveKey.fnv1a)
        hasher.combine(folded)
    }

    private static func fnv1a(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(fold(byte))) &* 0x0000_0100_0000_01b3 }
        return hash
    }

    @inline(__always)
    static func fold(_ byte: UInt8) -> UInt8 {
        byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
    }
}

extension String {
    /// Whether the two strings are equal with ASCII letters compared case-insensitively.
    func equalsIgnoringCase(_ other: String) -> Bool {
        CaseInsensitiveKey(self) == CaseInsensitiveKey(other)
    }
}
