import ArgumentParser
import Foundation
import Logging
import MoatCore
import MoatServer
import MoatSockets
import MoatWire

/// The Moat daemon: answers authorization checks on a Unix socket from a hot-reloaded rules file.
@main
struct Moatd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moatd",
        abstract: "Answer Key Vault authorization checks over a Unix socket, from a watched rules file.",
        version: moatVersion
    )

    /// Where every default below comes from.
    private static let defaults = ServerConfiguration()

    @Option(
        help:
            "The rules file, the one source of truth (watched; control-socket changes are written back); with --rules-source etcd, the cache of etcd's document."
    )
    var rules = defaults.rulesFile

    @Option(help: "Data socket path (env MOAT_SOCKET).")
    var socket = SocketKind.data.configuredPath

    @Option(name: .customLong("control-socket"), help: "Control socket path (env MOAT_CONTROL_SOCKET).")
    var controlSocket = SocketKind.control.configuredPath

    @Option(name: .customLong("socket-mode"), help: "Data socket file mode, octal.")
    var socketMode = "0" + String(defaults.data.mode, radix: 8)

    @Option(name: .customLong("control-socket-mode"), help: "Control socket file mode, octal.")
    var controlSocketMode = "0" + String(defaults.control.mode, radix: 8)

    @Option(name: .customLong("socket-group"), help: "Group (name or gid) owning both socket files.")
    var socketGroup: String?

    @Option(
        name: .customLong("allow-uid"),
        help: "Uid allowed on the data socket (repeatable; default: anyone the file mode admits)."
    )
    var allowUIDs: [UInt32] = []

    @Option(name: .customLong("allow-gid"), help: "Gid allowed on the data socket (repeatable).")
    var allowGIDs: [UInt32] = []

    @Option(
        name: .customLong("control-allow-uid"),
        help: "Uid allowed on the control socket (repeatable; default: root and moatd's own uid)."
    )
    var controlAllowUIDs: [UInt32] = []

    @Option(
        name: .customLong("trusted-asserter-uid"),
        help: "Uid whose checks may carry assertedIdentity instead of a token (repeatable)."
    )
    var trustedAsserterUIDs: [UInt32] = []

    @Option(name: .customLong("max-frame-bytes"), help: "Largest frame accepted on the data socket.")
    var maxFrameBytes = defaults.data.maximumFrameLength

    @Option(name: .customLong("max-control-frame-bytes"), help: "Largest frame accepted on the control socket.")
    var maxControlFrameBytes = defaults.control.maximumFrameLength

    @Option(
        name: .customLong("max-connections"),
        help:
            "Data connections open at once (lowered at start to fit the open-file limit, which moatd raises to its hard limit)."
    )
    var maxConnections = defaults.maximumConnections

    @Option(
        name: .customLong("max-connections-per-uid"),
        help: "Data connections one peer uid may hold open at once (default: a quarter of --max-connections)."
    )
    var maxConnectionsPerUID: Int?

    @Option(name: .customLong("max-control-connections"), help: "Control connections open at once.")
    var maxControlConnections = defaults.maximumControlConnections

    @Option(name: .customLong("idle-timeout"), help: "Seconds before an idle data connection is closed (0: never).")
    var idleTimeout = defaults.idleTimeout.components.seconds

    @Option(
        name: .customLong("partial-frame-timeout"),
        help: "Seconds a frame may take to arrive in full (data and control sockets)."
    )
    var partialFrameTimeout = defaults.partialFrameTimeout.components.seconds

    @Option(
        name: .customLong("poll-interval"),
        help: "Seconds between looks at the rules file when no change event arrives."
    )
    var pollInterval = defaults.pollInterval.components.seconds

    @Option(name: .customLong("drain-timeout"), help: "Seconds SIGTERM waits for connections to finish.")
    var drainTimeout = defaults.drainTime.components.seconds

    @Option(name: .customLong("threads"), help: "Event loop threads (default: one per core).")
    var threads: Int?

    @Option(
        name: .customLong("decision-log"),
        help: "Decision log destination: a file (SIGUSR1 reopens it, for logrotate), or - for standard error."
    )
    var decisionLog = defaults.decisionLog.destination

    @Option(
        name: .customLong("log-allow-rate"),
        help: "Share of allow decisions written to the decision log, 0 to 1 (denies: all)."
    )
    var logAllowRate = defaults.decisionLog.allowSampleRate

    @Option(
        name: .customLong("decision-log-max-bytes"),
        help:
            "Size at which the decision log file is rotated to FILE.1 (0: never; then rotate with logrotate and SIGUSR1)."
    )
    var decisionLogMaxBytes = defaults.decisionLog.maximumFileBytes

    @Option(
        name: .customLong("decision-log-queue-bytes"),
        help: "Bytes of decision records waiting to be written before new ones are dropped (and counted per peer uid)."
    )
    var decisionLogQueueBytes = defaults.decisionLog.queueBytes

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @OptionGroup(title: "Envoy ext_authz service")
    var envoy: EnvoyOptions

    @OptionGroup(title: "Health and metrics over HTTP; the stale-rules guard")
    var http: HTTPOptions

    @OptionGroup(title: "Signing keys fetched and kept current")
    var keys: KeysOptions

    @OptionGroup(title: "etcd rules source")
    var etcd: EtcdOptions

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level: unknown level '\(logLevel)'")
        }
        guard UInt32(socketMode, radix: 8) != nil, UInt32(controlSocketMode, radix: 8) != nil else {
            throw ValidationError("socket modes are octal, e.g. 0660")
        }
        guard (0...1).contains(logAllowRate) else { throw ValidationError("--log-allow-rate must be between 0 and 1") }
        let leastLogBytes = DecisionLog.Configuration.minimumBytes
        guard decisionLogMaxBytes == 0 || decisionLogMaxBytes >= leastLogBytes else {
            throw ValidationError("--decision-log-max-bytes must be 0 (never rotate) or at least \(leastLogBytes)")
        }
        guard decisionLogQueueBytes >= leastLogBytes else {
            throw ValidationError("--decision-log-queue-bytes must be at least \(leastLogBytes)")
        }
        for (flag, value) in [
            ("--max-frame-bytes", maxFrameBytes), ("--max-control-frame-bytes", maxControlFrameBytes),
        ]
        where !(1024...Int(UInt32.max)).contains(value) {
            throw ValidationError("\(flag) must be between 1024 and \(UInt32.max)")
        }
        for (flag, value, least) in [
            ("--max-connections", Int64(maxConnections), Int64(1)),
            ("--max-connections-per-uid", Int64(maxConnectionsPerUID ?? 1), 1),
            ("--max-control-connections", Int64(maxControlConnections), 1), ("--idle-timeout", idleTimeout, 0),
            ("--partial-frame-timeout", partialFrameTimeout, 1), ("--poll-interval", pollInterval, 1),
            ("--drain-timeout", drainTimeout, 0),
        ] where value < least {
            throw ValidationError("\(flag) must be at least \(least)")
        }
        if let age = try http.maximumSnapshotAge(), age <= .seconds(pollInterval) {
            throw ValidationError(
                "--max-snapshot-age (\(age)) must be longer than --poll-interval (\(pollInterval) s): the rules file is confirmed at each look"
            )
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "moatd")
        let group = try socketGroup.map(Self.groupID)
        let envoyConfiguration = try envoy.configuration(group: group)
        let keysConfiguration = try keys.configuration()
        let etcdConfiguration = try etcd.configuration()
        var configuration = ServerConfiguration.defaults {
            $0.envoy = envoyConfiguration
            $0.keys = keysConfiguration
            $0.etcd = etcdConfiguration
            $0.rulesFile = rules
            $0.data.path = socket
            $0.data.mode = UInt32(socketMode, radix: 8)!
            $0.data.group = group
            $0.data.maximumFrameLength = maxFrameBytes
            $0.data.peers = PeerPolicy(allowedUIDs: Set(allowUIDs), allowedGIDs: Set(allowGIDs))
            $0.control.path = controlSocket
            $0.control.mode = UInt32(controlSocketMode, radix: 8)!
            $0.control.group = group
            $0.control.maximumFrameLength = maxControlFrameBytes
            if !controlAllowUIDs.isEmpty { $0.control.peers = PeerPolicy(allowedUIDs: Set(controlAllowUIDs)) }
            $0.trustedAsserterUIDs = Set(trustedAsserterUIDs)
            $0.maximumConnections = maxConnections
            $0.maximumConnectionsPerUID = maxConnectionsPerUID
            $0.maximumControlConnections = maxControlConnections
            $0.idleTimeout = .seconds(idleTimeout)
            $0.partialFrameTimeout = .seconds(partialFrameTimeout)
            $0.pollInterval = .seconds(pollInterval)
            $0.drainTime = .seconds(drainTimeout)
            if let threads { $0.eventLoopThreads = threads }
            $0.decisionLog.destination = decisionLog
            $0.decisionLog.allowSampleRate = logAllowRate
            $0.decisionLog.maximumFileBytes = decisionLogMaxBytes
            $0.decisionLog.queueBytes = decisionLogQueueBytes
        }
        try http.apply(to: &configuration, group: group)
        do {
            try await MoatDaemon(configuration: configuration, logger: logger).run()
        } catch let error as SocketSetupError {
            FileHandle.standardError.write(Data("moatd: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    private static func groupID(_ name: String) throws -> UInt32 {
        if let gid = UInt32(name) { return gid }
        guard let entry = getgrnam(name) else { throw ValidationError("--socket-group: no group '\(name)'") }
        return entry.pointee.gr_gid
    }
}
