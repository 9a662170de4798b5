import ArgumentParser
import MoatCore
import MoatServer
import MoatWire

/// The flags of the Envoy ext_authz service (docs/envoy.md, README.md "Moat behind Envoy").
struct EnvoyOptions: ParsableArguments {
    @Option(
        name: .customLong("envoy-socket"),
        help:
            "Serve Envoy's ext_authz gRPC service (envoy.service.auth.v3.Authorization) on this Unix socket (systemd socket name: moat-envoy)."
    )
    var socket: String?

    @Option(name: .customLong("envoy-socket-mode"), help: "Envoy socket file mode, octal.")
    var socketMode = "0660"

    @Option(
        name: .customLong("envoy-allow-uid"),
        help: "Uid allowed on the Envoy socket (repeatable; default: anyone the file mode admits)."
    )
    var allowUIDs: [UInt32] = []

    @Option(name: .customLong("envoy-allow-gid"), help: "Gid allowed on the Envoy socket (repeatable).")
    var allowGIDs: [UInt32] = []

    @Option(
        name: .customLong("envoy-listen"),
        help: "Also serve the Envoy service on this TCP address, HOST:PORT (loopback only, unless --envoy-listen-any)."
    )
    var listen: String?

    @Flag(
        name: .customLong("envoy-listen-any"),
        help: "Allow a non-loopback --envoy-listen address (no TLS, no peer check: firewall it)."
    )
    var listenAny = false

    @Option(
        name: .customLong("envoy-trusted-proxy"),
        help: "CIDR of a proxy whose x-forwarded-for is read for the client address (repeatable; docs/envoy.md)."
    )
    var trustedProxies: [String] = []

    @Flag(
        name: .customLong("envoy-error-response"),
        help: "Answer 'could not decide' with error_response (503, retry-after) instead of gRPC UNAVAILABLE."
    )
    var errorResponse = false

    func validate() throws {
        _ = try configuration(group: nil)
    }

    /// The configuration these flags describe; `group` owns the socket file (`--socket-group`).
    func configuration(group: UInt32?) throws -> EnvoyConfiguration {
        var configuration = EnvoyConfiguration()
        if let socket {
            guard let mode = UInt32(socketMode, radix: 8) else {
                throw ValidationError("--envoy-socket-mode: '\(socketMode)' is not octal, e.g. 0660")
            }
            configuration.socket = SocketConfiguration(
                path: socket,
                mode: mode,
                group: group,
                peers: PeerPolicy(allowedUIDs: Set(allowUIDs), allowedGIDs: Set(allowGIDs)),
                maximumFrameLength: EnvoyConfiguration.maximumRequestBytes
            )
        }
        if let listen {
            do {
                configuration.listen = try EnvoyConfiguration.TCPAddress(parsing: listen, allowAny: listenAny)
            } catch {
                throw ValidationError("--envoy-listen: \(error)")
            }
        }
        for text in trustedProxies {
            do {
                configuration.trustedProxies.append(try IPNetwork(parsing: text))
            } catch {
                throw ValidationError("--envoy-trusted-proxy: '\(text)' is not an address or CIDR (\(error))")
            }
        }
        configuration.answersErrorResponse = errorResponse
        return configuration
    }
}
