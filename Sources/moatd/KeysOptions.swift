import ArgumentParser
import MoatServer

/// The flags of signing keys fetched and kept current (docs/running.md "Signing keys", README.md
/// "Real Entra tokens").
struct KeysOptions: ParsableArguments {
    private static let defaults = KeysConfiguration()

    @Option(
        name: .customLong("jwks-ca-file"),
        help: "PEM certificate authorities trusted for key fetches, instead of the system trust store."
    )
    var caFile: String?

    @Option(
        name: .customLong("jwks-refresh-interval"),
        help:
            "Seconds between background refreshes of each fetched key set (shorter when the server's max-age says so)."
    )
    var refreshInterval = defaults.refreshInterval.components.seconds

    @Option(
        name: .customLong("jwks-timeout"),
        help: "Seconds one key fetch (connection, TLS, response and body) may take."
    )
    var timeout = defaults.timeout.components.seconds

    @Option(
        name: .customLong("jwks-retries"),
        help:
            "Further attempts after a failed key fetch (connection error, timeout, HTTP 5xx or 429), waits doubling from 1 s."
    )
    var retries = defaults.retries

    @Option(
        name: .customLong("state-dir"),
        help: "Directory where fetched key sets are kept (one file per tenant) and read back at start."
    )
    var stateDirectory: String?

    @Flag(
        name: .customLong("ready-requires-keys"),
        help: "Report not ready while a tenant with a key source has no key set yet."
    )
    var readyRequiresKeys = false

    func validate() throws {
        _ = try configuration()
    }

    func configuration() throws -> KeysConfiguration {
        guard refreshInterval >= 1 else { throw ValidationError("--jwks-refresh-interval must be at least 1") }
        guard timeout >= 1 else { throw ValidationError("--jwks-timeout must be at least 1") }
        guard (0...10).contains(retries) else { throw ValidationError("--jwks-retries must be between 0 and 10") }
        var configuration = KeysConfiguration()
        configuration.caFile = caFile
        configuration.refreshInterval = .seconds(refreshInterval)
        configuration.timeout = .seconds(timeout)
        configuration.retries = retries
        configuration.stateDirectory = stateDirectory
        configuration.readyRequiresKeys = readyRequiresKeys
        if let problem = configuration.problem() { throw ValidationError(problem) }
        return configuration
    }
}
