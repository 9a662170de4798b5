import ArgumentParser
import Foundation
import MoatClient
import MoatCore
import MoatSockets
import MoatWire

/// Where the daemon's sockets are: flags, else MOAT_SOCKET / MOAT_CONTROL_SOCKET, else the defaults.
struct SocketOptions: ParsableArguments {
    @Option(name: .long, help: "Data socket (default: $MOAT_SOCKET or /run/moat/moat.sock).")
    var socket: String?

    @Option(
        name: .customLong("control-socket"),
        help: "Control socket (default: $MOAT_CONTROL_SOCKET or /run/moat/control.sock)."
    )
    var controlSocket: String?

    var dataPath: String { socket ?? SocketKind.data.configuredPath }

    var controlPath: String { controlSocket ?? SocketKind.control.configuredPath }
}

/// Runs a control call with README.md's exit codes: 1 when the daemon refused (error and
/// details on stderr), 3 when it could not be reached.
func withControlClient<Result>(
    _ sockets: SocketOptions,
    _ body: (MoatControlClient) async throws -> Result
) async throws -> Result {
    do {
        return try await MoatControlClient.withConnection(socketPath: sockets.controlPath, body)
    } catch let error as MoatClientError {
        "moatctl: \(error.message)".write(toStandardError: ())
        for detail in error.details { "\(detail.path): \(detail.message)".write(toStandardError: ()) }
        throw ExitCode(error.code == .status ? 1 : 3)
    }
}

/// The one line a successful change prints.
func report(_ change: ChangeResponse) {
    print("\(change.summary); revision \(change.revision)\(change.changed ? "" : " unchanged")")
}
