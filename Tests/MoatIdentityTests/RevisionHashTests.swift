import MoatIdentity
import Testing

@Suite("RevisionHash")
struct RevisionHashTests {
    /// SHA-256 test vectors (FIPS 180-2 and the empty message), first 16 hex digits.
    static let vectors: [(text: String, hash: String)] = [
        ("", "e3b0c44298fc1c14"),
        ("abc", "ba7816bf8f01cfea"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8"),
        (#"{"vaults":[]}"#, "0a29b56656d5380c"),
    ]

    @Test("is the first 16 lower-case hex digits of SHA-256", arguments: vectors)
    func knownVectors(_ text: String, _ hash: String) {
        #expect(RevisionHash.of(Array(text.utf8)) == hash)
    }

    @Test("does not depend on how the bytes are held", arguments: vectors)
    func collections(_ text: String, _ hash: String) {
        #expect(RevisionHash.of(text.utf8) == hash)
        #expect(RevisionHash.of(Array(text.utf8)[...]) == hash)
        #expect(RevisionHash.of(text.utf8.lazy.map { $0 }) == hash)
        #expect(RevisionHash.of(AnyCollection(Array(text.utf8))) == hash)
    }
}
