import ArgumentParser
import MoatClient
import MoatCore
import MoatWire

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract:
            "Ask the daemon to decide a request; prints the decision JSON (exit 0 for allow and deny, 3 when it could not decide)."
    )

    @OptionGroup var sockets: SocketOptions
    @OptionGroup var request: RequestOptions

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Double = 5

    @Flag(name: .long, help: "Print a readable stage-by-stage account instead of JSON.")
    var explain = false

    func validate() throws {
        guard timeout > 0, timeout <= 3600 else {
            throw ValidationError("--timeout must be between 0 and 3600 seconds")
        }
    }

    func run() async throws {
        let checkRequest = try request.checkRequest()
        var configuration = MoatClient.Configuration()
        configuration.connections = 1
        configuration.deadline = .milliseconds(Int64(timeout * 1000))
        let result = await withMoatClient(socketPath: sockets.dataPath, configuration: configuration) {
            await $0.check(checkRequest)
        }
        switch result.outcome {
        case .decided(let decision):
            print(explain ? decision.explanation(for: checkRequest) : decision.json.serialized(.pretty))
        case .couldNotDecide(let error):
            printCouldNotDecide(error)
            throw ExitCode(3)
        }
    }
}

/// `{"error": {"code": "UNAVAILABLE", "message": "..."}}` on stdout (docs/protocol.md, "Status codes").
func printCouldNotDecide(_ error: MoatClientError) {
    let json = JSONValue.object([
        ("error", .object([("code", .string(error.status.name)), ("message", .string(error.message))]))
    ])
    print(json.serialized(.pretty))
}
