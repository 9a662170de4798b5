import MoatCore
import MoatIdentity
import MoatTestSupport
import MoatWire
import NIOCore
import Testing

@testable import MoatServer

/// The conformance table (`Tests/Conformance`) through the data socket's request processor: each
/// case is encoded as a Check frame, answered as the daemon answers it, and its decision decoded.
/// Every case runs, including those with `evaluateAt` (the clock-skew edges), which set the
/// processor's clock; through the real daemon they are skipped (`ConformanceThroughDaemon`).
@Suite("Conformance table: the server's request processor")
struct ConformanceThroughServerTests {
    /// Each decision file's rules, loaded once.
    static let stores: [String: RuleStore] = Dictionary(
        uniqueKeysWithValues: ConformanceTable.decisionFiles.map { file in
            let store = RuleStore()
            do {
                let rules = try LoadedRules(json: file.rules, sequence: 1)
                store.publish(ServingState(rules: rules, document: file.rules, loadedAtMillis: 0))
            } catch {
                fatalError("\(file.name): rules are invalid: \(error)")
            }
            return (file.name, store)
        }
    )

    @Test("decisions", arguments: ConformanceTable.decisionCases)
    func decision(_ testCase: DecisionCase) throws {
        let store = try #require(Self.stores[testCase.file])
        var processor = try DataRequestProcessorTests.processor(
            store: store,
            serving: false,
            trustsAssertedIdentity: testCase.trustedAsserter
        )
        if let evaluateAt = testCase.evaluateAt { processor.clock = { evaluateAt } }
        let request = try CheckRequest(json: testCase.request)
        let reply = try DataRequestProcessorTests.answer(
            &processor,
            try DataRequestProcessorTests.frame(.check, request)
        )
        try #require(reply.frame.status == .ok, "\(testCase): \(reply.frame.status)")
        let decision = try Decision(wirePayload: reply.frame.payload)
        let problems = testCase.mismatches(decision.json)
        #expect(problems.isEmpty, "\(testCase): \(problems.joined(separator: "; "))")
    }

    @Test("the clock-skew cases run here, and they depend on the clock the processor is given")
    func clockMatters() throws {
        let cases = ConformanceTable.decisionCases.filter { $0.evaluateAt != nil }
        #expect(cases.count == 10)
        // Moved a day later, the same requests are no longer decided as the table expects.
        var differing = 0
        for testCase in cases {
            var processor = try DataRequestProcessorTests.processor(
                store: try #require(Self.stores[testCase.file]),
                serving: false,
                trustsAssertedIdentity: testCase.trustedAsserter
            )
            let later = testCase.evaluateAt! + 86_400
            processor.clock = { later }
            let request = try CheckRequest(json: testCase.request)
            let reply = try DataRequestProcessorTests.answer(
                &processor,
                try DataRequestProcessorTests.frame(.check, request)
            )
            let decision = try Decision(wirePayload: reply.frame.payload)
            if !testCase.mismatches(decision.json).isEmpty { differing += 1 }
        }
        #expect(differing > 0)
    }
}
