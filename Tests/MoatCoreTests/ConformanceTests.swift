import Foundation
import MoatCore
import MoatIdentity
import MoatTestSupport
import Testing

/// Runs the conformance table (Tests/Conformance) against the engine, as `moatctl eval` does.
@Suite("Conformance table: the engine")
struct ConformanceTests {
    /// Each decision file's rules, loaded once.
    static let rules: [String: LoadedRules] = Dictionary(
        uniqueKeysWithValues: ConformanceTable.decisionFiles.map { file in
            do {
                return (file.name, try LoadedRules(json: file.rules, sequence: 1))
            } catch {
                fatalError("\(file.name): rules are invalid: \(error)")
            }
        }
    )

    @Test("decisions", arguments: ConformanceTable.decisionCases)
    func decision(_ testCase: DecisionCase) throws {
        let rules = try #require(Self.rules[testCase.file])
        let request = try CheckRequest(json: testCase.request)
        let now = testCase.evaluateAt ?? Int64(Date().timeIntervalSince1970)
        let context = EvaluationContext(now: now, trustsAssertedIdentity: testCase.trustedAsserter)
        let decision = rules.snapshot.evaluate(request, verifier: rules.verifier, context: context)
        let problems = testCase.mismatches(decision.json)
        #expect(problems.isEmpty, "\(testCase): \(problems.joined(separator: "; "))")
    }

    @Test("validation", arguments: ConformanceTable.validationCases)
    func validation(_ testCase: ValidationCase) {
        var reported: [ValidationError] = []
        do {
            _ = try LoadedRules(json: testCase.document, sequence: 1)
        } catch {
            reported = error.errors
        }
        let problems = testCase.mismatches(reported)
        #expect(problems.isEmpty, "\(testCase): \(problems.joined(separator: "; "))")
    }

    /// The runner itself: a decision that conforms stops conforming when a member goes missing,
    /// even one whose expected value is `null`.
    @Test("a decision missing a null member does not conform")
    func missingMember() throws {
        let testCase = try #require(ConformanceTable.decisionCases.first { $0.expect["innerCode"] == .null })
        let rules = try #require(Self.rules[testCase.file])
        let request = try CheckRequest(json: testCase.request)
        let context = EvaluationContext(
            now: testCase.evaluateAt ?? 1_800_000_000,
            trustsAssertedIdentity: testCase.trustedAsserter
        )
        let json = rules.snapshot.evaluate(request, verifier: rules.verifier, context: context).json
        try #require(testCase.mismatches(json).isEmpty)
        let problems = testCase.mismatches(json.removing("innerCode"))
        #expect(problems.count == 1 && problems[0].hasPrefix("decision has members"), "\(problems)")
    }
}
