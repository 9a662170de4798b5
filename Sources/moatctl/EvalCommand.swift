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
        let decision = loaded.snapshot.evaluate(checkRequest, verifier: loaded.verifier, context: context)
        print(explain ? decision.explanation(for: checkRequest) : decision.json.serialized(.pretty))
    }
}
