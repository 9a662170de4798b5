import ArgumentParser
import Foundation
import MoatCore
import MoatIdentity

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Decide a request offline against a rules file; prints the decision JSON (exit 0 for allow and deny)."
    )

    @Option(name: .long, help: "The rule document (JSON).")
    var rules: String

    @OptionGroup var request: RequestOptions

    @Option(name: .long, help: "Evaluate at this Unix time (seconds) instead of now.")
    var now: Int64?

    @Flag(name: .long, help: "Treat the request as coming from a trusted asserter peer (accept assertedIdentity).")
    var asserter = false

    @Flag(name: .long, help: "Print a readable stage-by-stage account instead of JSON.")
    var explain = false

    @Option(
        name: .customLong("state-dir"),
        help: "moatd's --state-dir: verify with the key sets it fetched (jwksFile sets are read from their files)."
    )
    var stateDirectory: String?

    func run() throws {
        let bytes = try InputFile.read(rules, what: "rules file")
        let loaded: LoadedRules
        do {
            loaded = try LoadedRules(json: bytes, sequence: 1)
        } catch {
            "rules file '\(rules)' is invalid:".write(toStandardError: ())
            for problem in error.errors { "\(problem)".write(toStandardError: ()) }
            throw ExitCode(2)
        }
        let checkRequest = try request.checkRequest()
        let context = EvaluationContext(
            now: now ?? Int64(Date().timeIntervalSince1970),
            trustsAssertedIdentity: asserter
        )
        let verifier = loaded.verifier.adding(keySets(for: loaded.snapshot), unknownKey: nil)
        let decision = loaded.snapshot.evaluate(checkRequest, verifier: verifier, context: context)
        print(explain ? decision.explanation(for: checkRequest) : decision.json.serialized(.pretty))
    }

    /// The key sets moatd would hold: each `jwksFile`, and with `--state-dir` each fetched set it kept.
    /// A tenant without one is said on stderr; its tokens verify with the document's keys only.
    private func keySets(for snapshot: Snapshot) -> [TenantKeySet] {
        snapshot.tenants.compactMap { tenant -> TenantKeySet? in
            guard let source = tenant.source else { return nil }
            let found: Result<TenantKeySet?, DocumentError>
            switch source {
            case .jwksFile(let path):
                guard let bytes = FileManager.default.contents(atPath: path) else {
                    "tenant \(tenant.tenantId): cannot read jwksFile '\(path)'; its tokens verify with the document's keys only"
                        .write(toStandardError: ())
                    return nil
                }
                found = Result { () throws(DocumentError) in
                    try TenantKeySet(tenantId: tenant.tenantId, jwks: Array(bytes))
                }
            case .jwksUri, .openIdConfiguration:
                let file = stateDirectory.map { "\($0)/\(PersistedKeySet.fileName(tenantId: tenant.tenantId))" }
                guard let file, let bytes = FileManager.default.contents(atPath: file) else {
                    "tenant \(tenant.tenantId): no key set kept\(stateDirectory.map { " in '\($0)'" } ?? " (no --state-dir)"); its tokens verify with the document's keys only"
                        .write(toStandardError: ())
                    return nil
                }
                found = Result { () throws(DocumentError) in
                    try PersistedKeySet(decoding: Array(bytes)).keySet(from: source)
                }
            }
            switch found {
            case .success(let set?): return set
            case .success(nil):
                "tenant \(tenant.tenantId): the kept key set came from another source; its tokens verify with the document's keys only"
                    .write(toStandardError: ())
            case .failure(let error):
                "tenant \(tenant.tenantId): the key set is invalid (\(error)); its tokens verify with the document's keys only"
                    .write(toStandardError: ())
            }
            return nil
        }
    }
}
