import ArgumentParser
import MoatServer

/// The flags of the operators' HTTP endpoints and the stale-rules guard (docs/running.md,
/// "Health and metrics over HTTP" and "The stale-rules guard"; README.md).
struct HTTPOptions: ParsableArguments {
    @Option(
        name: .customLong("http-listen"),
        help:
            "Serve GET /metrics, /healthz, /readyz and /status on this TCP address, HOST:PORT (loopback only, unless --http-listen-any)."
    )
    var listen: String?

    @Flag(
        name: .customLong("http-listen-any"),
        help: "Allow a non-loopback --http-listen address (no TLS, no peer check: firewall it)."
    )
    var listenAny = false

    @Option(
        name: .customLong("http-socket"),
        help: "Serve the HTTP endpoints on this Unix socket (systemd socket name: moat-http)."
    )
    var socket: String?

    @Option(name: .customLong("http-socket-mode"), help: "HTTP socket file mode, octal.")
    var socketMode = "0660"

    @Option(
        name: .customLong("http-max-connections"),
        help: "HTTP connections open at once (more are answered 503)."
    )
    var maxConnections = HTTPConfiguration().maximumConnections

    @Option(
        name: .customLong("http-timeout"),
        help: "Seconds an HTTP connection may take from accept to its answer (one request per connection)."
    )
    var timeout = HTTPConfiguration().timeout.components.seconds

    @Option(
        name: .customLong("max-snapshot-age"),
        help: ArgumentHelp(
            "Not ready (and, with --stale-answers unavailable, checks UNAVAILABLE) once the rules source has not confirmed the rules for this long: seconds, or a number with s, m or h (default: off).",
            valueName: "duration"
        )
    )
    var maxSnapshotAge: String?

    @Option(
        name: .customLong("stale-answers"),
        help: "How checks are answered past --max-snapshot-age: decide (from the last rules) or unavailable."
    )
    var staleAnswers = StaleAnswers.decide.rawValue

    func validate() throws {
        _ = try configuration(group: nil)
        _ = try maximumSnapshotAge()
        guard StaleAnswers(rawValue: staleAnswers) != nil else {
            throw ValidationError("--stale-answers: '\(staleAnswers)' is neither decide nor unavailable")
        }
        guard maxSnapshotAge != nil || staleAnswers == StaleAnswers.decide.rawValue else {
            throw ValidationError("--stale-answers unavailable needs --max-snapshot-age")
        }
    }

    /// `--max-snapshot-age`: nil when off.
    func maximumSnapshotAge() throws -> Duration? {
        guard let text = maxSnapshotAge else { return nil }
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600]
        let unit = text.last.flatMap { units[$0] }
        guard let number = Int64(unit == nil ? Substring(text) : text.dropLast()), number > 0,
            number <= Int64(Int32.max)
        else {
            throw ValidationError("--max-snapshot-age: '\(text)' is not a positive duration like 90, 90s, 15m or 2h")
        }
        return .seconds(number * (unit ?? 1))
    }

    /// The HTTP configuration these flags describe; `group` owns the socket file (`--socket-group`).
    func configuration(group: UInt32?) throws -> HTTPConfiguration {
        var configuration = HTTPConfiguration()
        if let socket {
            guard let mode = UInt32(socketMode, radix: 8) else {
                throw ValidationError("--http-socket-mode: '\(socketMode)' is not octal, e.g. 0660")
            }
            configuration.socket = SocketConfiguration(path: socket, mode: mode, group: group, maximumFrameLength: 0)
        }
        if let listen {
            do {
                configuration.listen = try EnvoyConfiguration.TCPAddress(
                    parsing: listen,
                    for: .http,
                    allowAny: listenAny
                )
            } catch {
                throw ValidationError("--http-listen: \(error)")
            }
        }
        guard maxConnections >= 1 else { throw ValidationError("--http-max-connections must be at least 1") }
        guard timeout >= 1 else { throw ValidationError("--http-timeout must be at least 1") }
        configuration.maximumConnections = maxConnections
        configuration.timeout = .seconds(timeout)
        return configuration
    }

    /// Puts these flags into `configuration`.
    func apply(to configuration: inout ServerConfiguration, group: UInt32?) throws {
        configuration.http = try self.configuration(group: group)
        configuration.maximumSnapshotAge = try maximumSnapshotAge()
        configuration.staleAnswers = StaleAnswers(rawValue: staleAnswers) ?? .decide
    }
}
