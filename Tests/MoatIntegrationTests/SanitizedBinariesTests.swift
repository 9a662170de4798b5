import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `make test-asan` and `make test-tsan` run this suite from their own scratch paths; unless the
/// daemon and tool they start are the sanitized ones of the same build, the sanitized run tests
/// an unsanitized moatd. The sanitizer runtimes are linked statically, so a binary built with one
/// holds its init symbol (`__asan_init`, `__tsan_init`), and so does this test process.
@Suite struct SanitizedBinariesTests {
    static let runtimes = ["__asan_init", "__tsan_init"]

    /// Whether this process was built with the sanitizer whose init symbol is `symbol`.
    static func selfHasSymbol(_ symbol: String) -> Bool {
        dlsym(nil, symbol) != nil  // nil is RTLD_DEFAULT
    }

    /// Whether `needle` occurs in `haystack` (a linked binary of tens of megabytes).
    static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard var cursor = haystack.baseAddress, let first = needle.first else { return false }
        let end = cursor + haystack.count
        while end - cursor >= needle.count, let hit = memchr(cursor, Int32(first), end - cursor) {
            let candidate = UnsafeRawPointer(hit)
            if end - candidate >= needle.count, memcmp(candidate, needle, needle.count) == 0 { return true }
            cursor = candidate + 1
        }
        return false
    }

    @Test(arguments: ["moatd", "moatctl"])
    func binariesUnderTestAreBuiltLikeTheTests(name: String) throws {
        let path = "\(binPath)/\(name)"
        let binary = try #require(FileManager.default.contents(atPath: path), "cannot read \(path)")
        for symbol in Self.runtimes {
            let inBinary = binary.withUnsafeBytes { Self.contains($0, Array(symbol.utf8)) }
            #expect(
                inBinary == Self.selfHasSymbol(symbol),
                "\(path) \(inBinary ? "has" : "lacks") \(symbol) but the test process \(inBinary ? "lacks" : "has") it"
            )
        }
    }
}
