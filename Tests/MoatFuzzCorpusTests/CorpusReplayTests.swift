import Foundation
import MoatFuzzTargets
import Testing

/// Every committed fuzz input (`Tests/Fuzz/<target>/`: seeds and the inputs of past findings)
/// replayed through the same entry point `moat-fuzz` fuzzes, without libFuzzer, so that the corpora
/// cannot rot and a fixed finding stays fixed.
@Suite struct CorpusReplayTests {
    /// The files of one target's corpus, in name order.
    static func inputs(of target: FuzzTarget) throws -> [URL] {
        let names = try FileManager.default.contentsOfDirectory(atPath: target.corpusDirectory.path)
        return names.sorted().filter { !$0.hasPrefix(".") }.map { target.corpusDirectory.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func corpusReplaysClean(target: FuzzTarget) throws {
        let inputs = try Self.inputs(of: target)
        // A corpus that went missing must fail the run, not pass it with nothing replayed.
        #expect(inputs.count >= 3, "Tests/Fuzz/\(target.rawValue) holds \(inputs.count) inputs")
        for url in inputs {
            let bytes = try Array(Data(contentsOf: url))
            #expect(throws: Never.self, "Tests/Fuzz/\(target.rawValue)/\(url.lastPathComponent)") {
                try target.run(bytes)
            }
        }
    }

    /// Each folder of `Tests/Fuzz` is a target's corpus: a folder no target reads would rot unseen.
    @Test func everyCorpusFolderHasATarget() throws {
        let folders = try FileManager.default.contentsOfDirectory(atPath: FuzzTarget.corpusRoot.path)
            .filter { !$0.hasPrefix(".") && !$0.hasSuffix(".md") }
        #expect(Set(folders) == Set(FuzzTarget.allCases.map(\.rawValue)))
    }
}
