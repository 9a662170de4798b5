import MoatCore
import MoatIdentity
import MoatWire
import NIOCore
import Testing

@testable import MoatServer

/// The data path's seam (docs/protocol.md, "Shadow rule sets"): with a candidate loaded, every
/// sampled check is answered from the serving snapshot and judged again by the candidate.
@Suite("Shadow judge")
struct ShadowJudgeTests {
    /// A candidate without the serving document's vault: every check of it changes its reason
    /// (MissingToken on the serving side, VaultNotFound on the candidate's).
    static func candidate(on store: RuleStore, sampleRate: Double = 1) throws -> ShadowCandidate {
        let document = Fixture.document(vault: "another-vault")
        let candidate = ShadowCandidate(
            rules: try LoadedRules(json: document, sequence: 5),
            document: document,
            base: try #require(store.serving).revision,
            changes: nil,
            sampleRate: sampleRate,
            judge: ShadowJudge(metrics: DataRequestProcessorTests.metrics)
        )
        store.shadow.install(candidate)
        return candidate
    }

    @Test("checks and batches are answered by the serving rules and judged by the candidate")
    func judged() async throws {
        let store = RuleStore()
        var processor = try DataRequestProcessorTests.processor(store: store)
        let candidate = try Self.candidate(on: store)
        let request = DataRequestProcessorTests.request
        let reply = try DataRequestProcessorTests.answer(
            &processor,
            try DataRequestProcessorTests.frame(.check, request)
        )
        #expect(try Decision(wirePayload: reply.frame.payload).innerCode == .missingToken)
        let batch = CheckBatchRequest(requests: Array(repeating: request, count: 3))
        _ = try DataRequestProcessorTests.answer(&processor, try DataRequestProcessorTests.frame(.checkBatch, batch))
        await candidate.judge.settle()
        let counts = candidate.judge.counts()
        #expect(counts.compared == 4 && counts.reasonChanged == 4 && counts.allowToDeny == 0 && counts.skipped == 0)
        let groups = candidate.judge.groups().groups
        #expect(groups.count == 1)
        #expect(groups.first?.count == 4)
        #expect(groups.first?.serving == "denied MissingToken")
        #expect(groups.first?.candidate == "denied VaultNotFound")

        // Dropped: the checks that follow are not judged.
        store.shadow.install(nil)
        _ = try DataRequestProcessorTests.answer(&processor, try DataRequestProcessorTests.frame(.check, request))
        await candidate.judge.settle()
        #expect(candidate.judge.counts().compared == 4)
    }

    @Test("the judge tells apart tokens of the same length judged in a row (its memo of the last token)")
    func tokensInARow() async throws {
        let store = RuleStore()
        let serving = try TokenCacheTests.state(sequence: 1)
        store.publish(serving)
        var processor = try DataRequestProcessorTests.processor(store: store, serving: false)
        processor.clock = { 1_800_000_000 }
        // The candidate is the serving document: every check must be judged as it was answered.
        let candidate = ShadowCandidate(
            rules: try LoadedRules(json: serving.document, sequence: 5),
            document: serving.document,
            base: serving.revision,
            changes: nil,
            sampleRate: 1,
            judge: ShadowJudge(metrics: DataRequestProcessorTests.metrics)
        )
        store.shadow.install(candidate)
        // alice may get the secret, bob may not.
        let alice = try TokenCacheTests.token(object: "a11ce000-0000-4000-8000-000000000001")
        let bob = try TokenCacheTests.token(object: "b0b00000-0000-4000-8000-000000000002")
        try #require(alice.utf8.count == bob.utf8.count)
        var outcomes: [Decision.Outcome] = []
        for token in [alice, bob, alice, bob] {
            var request = DataRequestProcessorTests.request
            request.token = token
            let reply = try DataRequestProcessorTests.answer(
                &processor,
                try DataRequestProcessorTests.frame(.check, request)
            )
            outcomes.append(try Decision(wirePayload: reply.frame.payload).outcome)
        }
        #expect(outcomes == [.allow, .deny, .allow, .deny])
        await candidate.judge.settle()
        let counts = candidate.judge.counts()
        #expect(counts.compared == 4 && counts.allowToDeny == 0 && counts.denyToAllow == 0 && counts.reasonChanged == 0)
    }

    @Test("the sample rate sets the share of checks judged")
    func sampled() async throws {
        let store = RuleStore()
        var processor = try DataRequestProcessorTests.processor(store: store)
        let candidate = try Self.candidate(on: store, sampleRate: 1e-12)
        let batch = CheckBatchRequest(requests: Array(repeating: DataRequestProcessorTests.request, count: 100))
        _ = try DataRequestProcessorTests.answer(&processor, try DataRequestProcessorTests.frame(.checkBatch, batch))
        await candidate.judge.settle()
        #expect(candidate.judge.counts().compared == 0)
    }

    @Test(
        "a sample rate keeps exactly that share of the 64-bit draws: 0 none, 1 all without drawing, 0.5 below 2^63",
        arguments: [0.0, 0.25, 0.5, 1.0]
    )
    func sampleThreshold(rate: Double) {
        let sampling = SampleThreshold(rate: rate)
        if rate == 1 {
            // Outside #expect, which evaluates a call's arguments itself to show them.
            let kept = sampling.samples(
                {
                    Issue.record("drew a random number at rate 1")
                    return 0
                }()
            )
            #expect(kept)
            return
        }
        let edge = UInt64(rate * 0x1p64)
        #expect(!sampling.samples(edge))
        #expect(!sampling.samples(.max))
        #expect(sampling.samples(edge &- 1) == (rate > 0))
    }
}
