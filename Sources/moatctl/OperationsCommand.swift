import ArgumentParser
import MoatCore

struct OperationsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operations",
        abstract: "List every operation with the access-policy permission and RBAC action it needs."
    )

    @Flag(name: .long, help: "Print a Markdown table (docs/operations.md is this output).")
    var markdown = false

    func run() {
        if markdown {
            print("| operation | wire number | access policy | RBAC action | RBAC scope |")
            print("|---|---|---|---|---|")
        }
        for operation in Operation.allCases {
            let requirement = operation.requirement
            if markdown {
                let permission = requirement.permission.map { "`\($0)`" } ?? "(control plane: role assignments)"
                let scope = operation.actsOnOneObject ? "object" : "vault"
                print(
                    "| `\(operation.name)` | \(operation.rawValue) | \(permission) | `\(requirement.action)` | \(scope) |"
                )
            } else {
                print("\(operation.name)\t\(requirement.permission?.description ?? "-")\t\(requirement.action)")
            }
        }
    }
}
