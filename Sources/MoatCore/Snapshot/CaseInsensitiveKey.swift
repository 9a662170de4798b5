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
                for i in 0..<a.count where fold(a[i]) != fold(b[i]) { return false }
                return true
            }
        }
        return (equal ?? nil) ?? lhs.value.utf8.elementsEqual(rhs.value.utf8) { fold($0) == fold($1) }
    }

    /// Feeds the folded bytes to the hasher eight at a time (ids are 36 to 200 bytes; one
    /// `combine` per byte would cost more than the lookup).
    func hash(into hasher: inout Hasher) {
        var word: UInt64 = 0
        var filled: UInt64 = 0
        func add(_ byte: UInt8) {
            word |= UInt64(CaseInsensitiveKey.fold(byte)) << (filled * 8)
            filled += 1
            if filled == 8 {
                hasher.combine(word)
                word = 0
                filled = 0
            }
        }
        let done: Void? = value.utf8.withContiguousStorageIfAvailable { bytes in
            for byte in bytes { add(byte) }
        }
        if done == nil { for byte in value.utf8 { add(byte) } }
        hasher.combine(word)
        hasher.combine(value.utf8.count)
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
