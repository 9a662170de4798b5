import NIOSSL
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// How `moatd` keeps fetched signing keys current (`docs/running.md`, "Signing keys"; the
/// `--jwks-*`, `--state-dir` and `--ready-requires-keys` flags).
public struct KeysConfiguration: Sendable {
    /// PEM file of the certificate authorities trusted for key fetches; `nil`: the system trust store.
    public var caFile: String?
    /// How often each fetched set is refreshed in the background (shorter when the server's
    /// `Cache-Control: max-age` says so, never under `minimumRefreshInterval`).
    public var refreshInterval: Duration = .seconds(24 * 3600)
    /// How long one request (connection, TLS, response and body) may take.
    public var timeout: Duration = .seconds(10)
    /// Further attempts after a failed request (connection error, timeout, HTTP 5xx or 429).
    public var retries = 2
    /// The wait before the first retry; doubled for each further one.
    public var retryBackoff: Duration = .seconds(1)
    /// Where fetched sets are kept across restarts; `nil`: nowhere.
    public var stateDirectory: String?
    /// Whether the daemon is ready only once every tenant with a fetched key source has a key set.
    public var readyRequiresKeys = false

    /// A token with an unknown `kid` refreshes its tenant's set at most this often (Entra's guidance).
    public static let unknownKeyRefreshInterval: Duration = .seconds(300)
    /// The soonest a background refresh follows a fetch, whatever `max-age` says.
    public static let minimumRefreshInterval: Duration = .seconds(300)
    /// How often `jwksFile`s are looked at, and each tenant's key-set age is updated in the metrics.
    public static let tick: Duration = .seconds(1)

    public init() {}

    /// What makes this configuration unusable, naming the flag, or `nil`: a CA file that holds no
    /// PEM certificate, a state directory that is not a writable directory.
    public func problem() -> String? {
        if let caFile {
            // swift-nio-ssl throws for a file without a PEM certificate too (an empty one included).
            do {
                _ = try NIOSSLCertificate.fromPEMFile(caFile)
            } catch {
                return "--jwks-ca-file: cannot read PEM certificates from '\(caFile)' (\(error))"
            }
        }
        if let stateDirectory {
            var info = stat()
            guard stat(stateDirectory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                return "--state-dir: '\(stateDirectory)' is not a directory"
            }
            guard access(stateDirectory, W_OK | X_OK) == 0 else {
                return "--state-dir: '\(stateDirectory)' is not writable (\(Errno(rawValue: errno)))"
            }
        }
        return nil
    }
}
