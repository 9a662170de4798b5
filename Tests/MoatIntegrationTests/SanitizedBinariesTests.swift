import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `make test-asan` and `make test-tsan` run this suite from their own scratch paths; unless the
/// daemon and tool they start are the sanitized ones of the same build, the sanitized run tests
/// an unsanitized moatd. The sanitizer runtimes are linked statically and export their init
/// function, which tells how this process was built; a binary built with a sanitizer holds a
/// symbol only that sanitizer's instrumentation uses.
@Suite struct SanitizedBinariesTests {
    /// Each sanitizer: the init function its runtime exports, a symbol its instrumented code calls.
    static let sanitizers = [
        (name: "AddressSanitizer", runtime: "__asan_init", instrumentation: "__asan_init"),
        // The AddressSanitizer runtime names __tsan_init in a string, so look for a call instead.
        (name: "ThreadSanitizer", runtime: "__tsan_init", instrumentation: "__tsan_func_entry"),
    ]

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
        for sanitizer in Self.sanitizers {
            let inBinary = binary.withUnsafeBytes { Self.contains($0, Array(sanitizer.instrumentation.utf8)) }
            let inTests = dlsym(nil, sanitizer.runtime) != nil  // nil is RTLD_DEFAULT
            #expect(
                inBinary == inTests,
                "\(path) is\(inBinary ? "" : " not") built with \(sanitizer.name), the tests are\(inTests ? "" : " not")"
            )
        }
    }

    /// The sandbox fails a test whose children wrote a crash or a sanitizer report, whatever the
    /// test asserted: a daemon halted by TSan otherwise shows only as refused connections.
    @Test(arguments: [
        "Fatal error: boom", "WARNING: ThreadSanitizer: data race (pid=1)", "ERROR: AddressSanitizer: x",
        "ERROR: LeakSanitizer: detected memory leaks",
    ])
    func aChildsCrashReportFailsTheTest(report: String) async throws {
        try await withKnownIssue {
            try await withSandbox { sandbox in
                let result = try await sandbox.run("/bin/sh", ["-c", "echo 'a line before'; echo \"$0\" >&2", report])
                #expect(result.status == 0)
            }
        } matching: { issue in
            issue.comments.contains {
                $0.rawValue.contains("crashed or a sanitizer reported an error") && $0.rawValue.contains(report)
            }
        }
    }

    @Test func aChildWithoutAReportPasses() async throws {
        try await withSandbox { sandbox in
            let result = try await sandbox.run("/bin/sh", ["-c", "echo 'an error, but no crash' >&2; exit 3"])
            #expect(result.status == 3)
        }
    }
}
