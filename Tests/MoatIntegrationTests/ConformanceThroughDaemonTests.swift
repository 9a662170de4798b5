import Foundation
import MoatClient
import MoatCore
import MoatIdentity
import MoatTestSupport
import MoatWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension MoatdIntegrationTests {
    /// The conformance table (`Tests/Conformance`) through the socket: each decision file's `rules`
    /// become a daemon's rules file, and every case goes through `MoatClient`.
    ///
    /// Cases from a trusted asserter peer (`trustedAsserter: true`) go to a daemon started with
    /// `--trusted-asserter-uid <our uid>`, the others to one started without it.
    ///
    /// Skipped, never silently: the cases with `evaluateAt` (the clock-skew edges) need a clock the
    /// daemon does not let a client set (it decides with the real clock); they run through the
    /// server's request processor with its clock set (`ConformanceThroughServerTests`). There are
    /// 10 of them, 5 in `authentication.json` and 5 in `authentication-settings.json`;
    /// `expectedSkips` pins that, so a new clock-dependent case has to be acknowledged here.
    @Suite("Conformance table through the daemon")
    struct ConformanceThroughDaemon {
        static let expectedSkips: [String: Int] = ["authentication": 5, "authentication-settings": 5]

        @Test("the evaluateAt cases are the only ones skipped, and there are 10")
        func skippedCases() {
            let skipped = ConformanceTable.decisionCases.filter { $0.evaluateAt != nil }
            let byFile = Dictionary(grouping: skipped, by: \.file).mapValues(\.count)
            #expect(byFile == Self.expectedSkips, "cases needing a set clock: \(skipped.map(\.description))")
            #expect(skipped.count == 10)
            print(
                "conformance through moatd: \(skipped.count) cases skipped (evaluateAt: the daemon uses the real clock; run by ConformanceThroughServerTests)"
            )
        }

        @Test("decision file", arguments: ConformanceTable.decisionFiles.map(\.name))
        func decisionFile(_ name: String) async throws {
            let file = try #require(ConformanceTable.decisionFiles.first { $0.name == name })
            let runnable = file.cases.filter { $0.evaluateAt == nil }
            let skipped = file.cases.count - runnable.count
            #expect(skipped == Self.expectedSkips[name, default: 0], "\(name): \(skipped) cases with evaluateAt")

            var passed = 0
            var failed = 0
            try await withSandbox { sandbox in
                try sandbox.write(file.rules, to: sandbox.rulesPath)
                for trusted in [false, true] {
                    let cases = runnable.filter { $0.trustedAsserter == trusted }
                    guard !cases.isEmpty else { continue }
                    let label = trusted ? "asserter" : "plain"
                    let daemon = try await sandbox.startDaemon(
                        socket: sandbox.file("\(label).sock"),
                        controlSocket: sandbox.file("\(label)-control.sock"),
                        arguments: trusted ? TestDocuments.asserterArguments : []
                    )
                    let status = try await daemon.status()
                    #expect(status.ready, "\(name): the rules did not load: \(status.lastReloadError ?? "")")
                    #expect(
                        status.revision?.hash == RevisionHash.of(file.rules),
                        "\(name): the daemon's revision is not the hash of the rules file"
                    )
                    try await daemon.withClient { client in
                        for testCase in cases {
                            let request = try CheckRequest(json: testCase.request)
                            let result = await client.check(request)
                            guard let decision = result.decision else {
                                failed += 1
                                Issue.record("\(testCase): \(result.summary)")
                                continue
                            }
                            let problems = testCase.mismatches(decision.json)
                            if problems.isEmpty {
                                passed += 1
                            } else {
                                failed += 1
                                Issue.record("\(testCase) (\(label) peer): \(problems.joined(separator: "; "))")
                            }
                        }
                    }
                    #expect(await daemon.stop() == .exit(0))
                }
            }
            print(
                "conformance through moatd, \(name): \(passed) passed, \(failed) failed\(skipped > 0 ? ", \(skipped) skipped" : "")"
            )
            #expect(passed + failed == runnable.count)
        }
    }
}
