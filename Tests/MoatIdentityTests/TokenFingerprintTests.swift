import Testing

@testable import MoatIdentity

@Suite("TokenFingerprint")
struct TokenFingerprintTests {
    /// RFC 4231, test case 2: HMAC-SHA256 under "Jefe" of "what do ya want for nothing?" is
    /// 5bdcc146bf60754e 6a042426089575c7 ...; the fingerprint is its first 16 bytes.
    static let jefe = TokenFingerprint(high: 0x4e75_60bf_46c1_dc5b, low: 0xc775_9508_2624_046a)

    @Test("is the first 128 bits of HMAC-SHA256 under the key, at every call")
    func knownVector() {
        let fingerprinter = TokenFingerprinter(key: Array("Jefe".utf8))
        for _ in 0..<3 {
            #expect(fingerprinter.fingerprint("what do ya want for nothing?") == Self.jefe)
        }
    }

    @Test("depends only on the token's bytes, not on where the substring starts")
    func substring() {
        let fingerprinter = TokenFingerprinter(key: Array("Jefe".utf8))
        let text = "Bearer what do ya want for nothing?!"
        let token = text.dropFirst("Bearer ".count).dropLast()
        #expect(fingerprinter.fingerprint(token) == Self.jefe)
    }

    @Test("differs for a token that differs in its last byte, and under another key")
    func differs() {
        let fingerprinter = TokenFingerprinter()
        let token = String(repeating: "a", count: 853) + "b"
        let other = String(repeating: "a", count: 853) + "c"
        #expect(fingerprinter.fingerprint(token[...]) == fingerprinter.fingerprint(token[...]))
        #expect(fingerprinter.fingerprint(token[...]) != fingerprinter.fingerprint(other[...]))
        #expect(fingerprinter.fingerprint(token[...]) != TokenFingerprinter().fingerprint(token[...]))
    }
}
