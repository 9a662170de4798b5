/// A string compared and hashed with ASCII letters folded to lower case, without building the
/// folded copy: vault names, ARM resource ids and GUIDs from requests are looked up as they come.
struct CaseInsensitiveKey: Hashable, Sendable {
    let value: String

    init(_ value: String) {
        self.value = value
    }

    static func == (lhs: CaseInsensitiveKey, rhs: CaseInsensitiveKey) -> Bool {
        lhs.value.utf8.elementsEqual(rhs.value.utf8) { fold($0) == fold($1) }
    }

    func hash(into hasher: inout Hasher) {
        for byte in value.utf8 { hasher.combine(CaseInsensitiveKey.fold(byte)) }
        hasher.combine(0xff as UInt8)
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
