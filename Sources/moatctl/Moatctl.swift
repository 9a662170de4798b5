import ArgumentParser
import Foundation
import MoatCore

/// The operator's command-line tool. Exit codes follow README.md ("The rules", "Changing rules on a running daemon").
@main
struct Moatctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moatctl",
        abstract: "Moat's operator tool: validate and evaluate rules offline, check and change a running moatd.",
        discussion: "moatctl --version prints the version.",
        subcommands: [
            ValidateCommand.self, EvalCommand.self, CheckCommand.self, TokenCommand.self, PushCommand.self,
            GetCommand.self,
            StatusCommand.self, RollbackCommand.self, ReloadCommand.self, MetricsCommand.self, NetworkRuleCommand.self,
            UpdateCommand.self, SetPolicyCommand.self, DeletePolicyCommand.self, VaultCommand.self, ImportCommand.self,
            BenchCommand.self, OperationsCommand.self, KeysCommand.self, FleetCommand.self, ShadowCommand.self,
        ]
    )

    /// Runs the command; argument errors exit 2 (not ArgumentParser's 64), as README.md says.
    static func main() async {
        // `moatctl --version` is read here, not declared: ArgumentParser's `version:` and any root
        // flag are parsed for every subcommand too, and `token mint --version 2` is a token's version.
        if Array(CommandLine.arguments.dropFirst()) == ["--version"] {
            print(moatVersion)
            return
        }
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure || error is UsageError {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// Bad input that is the caller's to fix: printed on stderr, exit 2.
struct UsageError: Error, CustomStringConvertible {
    var description: String
}

extension String {
    func write(toStandardError: Void = ()) {
        FileHandle.standardError.write(Data((self + "\n").utf8))
    }
}
