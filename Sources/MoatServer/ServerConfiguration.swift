import MoatWire
import NIOCore

#if canImport(Glibc)
import Glibc
#endif
// C types (`stat`, `dirent`) are also declared through CoreFoundation, which the etcd client's TLS
// stack loads into this module: imported here, so that their members resolve in this file.
#if canImport(CoreFoundation)
import CoreFoundation
#endif

/// Everything `moatd` can be told, with the defaults README.md documents for its flags. Built from flags
/// in one place (the `moatd` executable); every other part only reads it.
///
/// ```swift
/// let configuration = ServerConfiguration.defaults { $0.rulesFile = "/etc/moat/rules.json" }
/// ```
public struct ServerConfiguration: Sendable {
    /// The rules file, the one source of truth.
    public var rulesFile = "/etc/moat/rules.json"

    public var data = SocketConfiguration(
        path: SocketKind.data.defaultPath,
        mode: 0o660,
        maximumFrameLength: SocketKind.data.defaultMaximumFrameLength
    )
    /// Admits root and the daemon's own uid unless configured otherwise (docs/protocol.md "Sockets").
    public var control = SocketConfiguration(
        path: SocketKind.control.defaultPath,
        mode: 0o600,
        peers: PeerPolicy(allowedUIDs: [0, UInt32(getuid())]),
        maximumFrameLength: SocketKind.control.defaultMaximumFrameLength
    )

    /// Unix uids whose checks may carry `assertedIdentity` instead of a token.
    public var trustedAsserterUIDs: Set<UInt32> = []

    /// Connections open at once on the data socket; more are answered UNAVAILABLE and closed.
    /// Lowered at start when the descriptor limit cannot hold them (`DescriptorLimit`).
    public var maximumConnections = 4096
    /// Data connections one peer uid may hold open at once; nil: a quarter of
    /// `maximumConnections` (at least 1). More are answered UNAVAILABLE and closed.
    public var maximumConnectionsPerUID: Int?
    /// Connections open at once on the control socket; more are answered UNAVAILABLE and closed.
    public var maximumControlConnections = 16
    /// A connection with no traffic for this long is closed (zero: never).
    public var idleTimeout: Duration = .seconds(600)
    /// A frame begun but not completed within this long closes the connection.
    public var partialFrameTimeout: Duration = .seconds(10)
    /// Bytes of verified tokens cached per event loop (`docs/semantics.md`, "Token checks, in order").
    public var tokenCacheBytes = 16 * 1024 * 1024
    /// How often the rules file is examined when no file-system event arrives (at least a second).
    public var pollInterval: Duration = .seconds(5)
    /// How long SIGTERM waits for connections to finish before closing them.
    public var drainTime: Duration = .seconds(5)
    /// Event loop threads (default: one per core).
    public var eventLoopThreads = System.coreCount

    public var decisionLog = DecisionLog.Configuration()

    /// Signing keys fetched and kept current (docs/running.md, "Signing keys").
    public var keys = KeysConfiguration()

    /// The Envoy ext_authz service (docs/envoy.md); off unless a socket or address is given.
    package var envoy = EnvoyConfiguration()
    /// The etcd rules source (docs/etcd.md); nil for the rules file (the default). With it,
    /// `rulesFile` is the cache of the last document accepted from etcd.
    package var etcd: EtcdSourceConfiguration?

    /// The operators' HTTP endpoints (docs/running.md); off unless an address or socket is given.
    package var http = HTTPConfiguration()

    /// The stale-rules guard (docs/running.md): past this age since the rules source last
    /// confirmed the rules are current, moatd is not ready; nil: off.
    public var maximumSnapshotAge: Duration?
    /// How checks are answered while the rules are stale (with `maximumSnapshotAge`).
    package var staleAnswers = StaleAnswers.decide

    public init() {}

    /// The per-uid limit in force: `maximumConnectionsPerUID`, or a quarter of `maximumConnections`.
    var effectiveMaximumConnectionsPerUID: Int {
        maximumConnectionsPerUID ?? max(1, maximumConnections / 4)
    }

    public static func defaults(_ adjust: (inout ServerConfiguration) -> Void = { _ in }) -> ServerConfiguration {
        var configuration = ServerConfiguration()
        adjust(&configuration)
        return configuration
    }
}

/// One listening Unix socket.
public struct SocketConfiguration: Sendable {
    public var path: String
    /// File mode of the socket (`0o660` data, `0o600` control).
    public var mode: UInt32
    /// Group owning the socket file; nil leaves the daemon's group.
    public var group: UInt32?
    /// Peers admitted (by SO_PEERCRED uid or gid); empty lists admit anyone the file mode lets in.
    public var peers: PeerPolicy
    /// Frames longer than this (the length field, N) are refused before their payload is read.
    public var maximumFrameLength: Int

    public init(path: String, mode: UInt32, group: UInt32? = nil, peers: PeerPolicy = .anyone, maximumFrameLength: Int)
    {
        self.path = path
        self.mode = mode
        self.group = group
        self.peers = peers
        self.maximumFrameLength = maximumFrameLength
    }
}
