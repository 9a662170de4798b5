import MoatTestSupport
import Testing

@testable import MoatCore

@Suite("Case-insensitive keys")
struct CaseInsensitiveKeyTests {
    @Test("keys differing only in ASCII letter case are equal and hash alike; others are not equal")
    func folding() {
        var random = SplitMix64(seed: 7)
        // Letters, digits, the bytes around 'A'...'Z' and 'a'...'z', and non-ASCII text.
        let alphabet = Array("aAzZ09-@[`{/éÉ".unicodeScalars)
        for _ in 0..<2000 {
            let length = Int.random(in: 0...41, using: &random)
            let text = String(
                String.UnicodeScalarView((0..<length).map { _ in alphabet.randomElement(using: &random)! })
            )
            let swapped = String(
                text.map {
                    $0.isASCII && $0.isLetter
                        ? ($0.isUppercase ? Character($0.lowercased()) : Character($0.uppercased())) : $0
                }
            )
            #expect(CaseInsensitiveKey(text) == CaseInsensitiveKey(swapped))
            #expect(CaseInsensitiveKey(text).hashValue == CaseInsensitiveKey(swapped).hashValue)
        }
        for (a, b) in [("@", "`"), ("[", "{"), ("é", "É"), ("a-b", "a_b"), ("ab", "abc"), ("", "a")] {
            #expect(CaseInsensitiveKey(a) != CaseInsensitiveKey(b), "\(a) vs \(b)")
        }
    }

    @Test("a dictionary finds ids whatever their case")
    func lookup() {
        let table = [CaseInsensitiveKey("a11ce000-0000-4000-8000-00000000000A"): 1]
        #expect(table[CaseInsensitiveKey("A11CE000-0000-4000-8000-00000000000a")] == 1)
        #expect(table[CaseInsensitiveKey("a11ce000-0000-4000-8000-00000000000b")] == nil)
    }
}
