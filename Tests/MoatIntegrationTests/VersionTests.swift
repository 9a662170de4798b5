import Foundation
import Testing

/// The project's one version is the top-level VERSION file (README.md, "Development"); the binaries
/// print it.
@Suite("--version")
struct VersionTests {
    static let version = (try? String(contentsOfFile: packageRoot + "/VERSION", encoding: .utf8))?
        .trimmingCharacters(in: .whitespacesAndNewlines)

    @Test("moatd --version and moatctl --version print VERSION and exit 0", arguments: ["moatd", "moatctl"])
    func printsVersion(binary: String) async throws {
        let version = try #require(Self.version)
        #expect(!version.isEmpty)
        try await withSandbox { sandbox in
            let result = try await sandbox.run("\(binPath)/\(binary)", ["--version"])
            #expect(result.status == 0, "\(result)")
            #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == version, "\(result)")
        }
    }
}
