import ArgumentParser
import MoatCore
import MoatIdentity

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a rule document: exit 0 valid, 1 invalid (one `PATH: message` line per error), 2 unreadable."
    )

    @Argument(help: "The rule document (JSON); - reads standard input.")
    var file: String

    func run() throws {
        let bytes = try InputFile.read(file, what: "rules file")
        do {
            let rules = try LoadedRules(json: bytes, sequence: 1)
            let counts = rules.snapshot.counts
            print(
                "valid: \(counts.vaults) vaults, \(counts.ipRules) IP rules, \(counts.virtualNetworkRules) virtual network rules, "
                    + "\(counts.accessPolicies) access policies, \(counts.roleAssignments) role assignments "
                    + "(revision \(rules.snapshot.revision.hash))"
            )
        } catch {
            for problem in error.errors { print(problem) }
            throw ExitCode(1)
        }
    }
}
