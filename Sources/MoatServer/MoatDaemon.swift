import Atomics
public import Logging
import MoatEtcd
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// The daemon as a library: loads the rules, binds the data and control sockets, and runs every
/// part as a service until SIGTERM or SIGINT, then drains and exits.
///
/// ```swift
/// try await MoatDaemon(configuration: .defaults { $0.rulesFile = path }, logger: logger).run()
/// ```
public struct MoatDaemon: Sendable {
    public let configuration: ServerConfiguration
    private let logger: Logger

    public init(configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs until shut down. Throws `SocketSetupError` when a socket cannot be set up, or the
    /// open-file limit leaves no room for connections (before anything is served).
    public func run() async throws {
        let metrics = ServerMetrics()
        let store = RuleStore(
            freshness: RulesFreshness(
                maximumAge: configuration.maximumSnapshotAge,
                staleAnswers: configuration.staleAnswers
            )
        )
        let rulesFile = RulesFile(path: configuration.rulesFile)
        let etcd = try configuration.etcd.map {
            EtcdDocumentStore(client: try EtcdClient($0.client), prefix: $0.prefix)
        }
        let updater = RuleUpdater(
            file: rulesFile,
            etcd: etcd,
            store: store,
            metrics: metrics,
            logger: logger,
            readyRequiresKeys: configuration.keys.readyRequiresKeys
        )
        if etcd != nil { await updater.setEtcdStale(true) }
        // With etcd, the file is its cache: served at once, stale until etcd confirms it.
        await updater.reloadFromFile(reason: etcd == nil ? "startup" : "startup, from the etcd cache", force: true)

        // The etcd client's connections live as long as the daemon: the source, control changes and
        // the registry use them, and they close after the last of those.
        let etcdConnections = etcd.map { etcd in
            Task { [logger] in
                do {
                    try await etcd.client.run()
                } catch {
                    logger.error("the etcd client stopped: \(error)")
                }
            }
        }
        defer {
            etcd?.client.shutdown()
            etcdConnections?.cancel()
        }
        // A node name a live node holds is refused here, before anything is served.
        let registry = etcd.flatMap { etcd in
            configuration.etcd.map {
                NodeRegistry(
                    client: etcd.client,
                    prefix: etcd.prefix,
                    name: $0.nodeName,
                    updater: updater,
                    logger: logger
                )
            }
        }
        if let registry { _ = try await registry.claim() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopThreads))
        let keys: KeyManager
        do {
            keys = try KeyManager(
                store: store,
                configuration: configuration.keys,
                group: group,
                metrics: metrics,
                logger: logger
            )
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        // The sets kept in --state-dir, before anything is served.
        await keys.start()
        do {
            // Counted with the event loops open: what remains of the open-file limit is for connections.
            var configuration = self.configuration
            let descriptors = try DescriptorLimit.fit(&configuration)
            DescriptorLimit.log(
                descriptors,
                perUID: configuration.effectiveMaximumConnectionsPerUID,
                logger: logger
            )
            try await serve(
                configuration: configuration,
                group: group,
                metrics: metrics,
                store: store,
                updater: updater,
                keys: keys,
                registry: registry
            )
        } catch {
            await keys.close()
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    private func serve(
        configuration: ServerConfiguration,
        group: MultiThreadedEventLoopGroup,
        metrics: ServerMetrics,
        store: RuleStore,
        updater: RuleUpdater,
        keys: KeyManager,
        registry: NodeRegistry?
    ) async throws {
        var caches: [ObjectIdentifier: TokenCache] = [:]
        for loop in group.makeIterator() {
            caches[ObjectIdentifier(loop)] = TokenCache(
                eventLoop: loop,
                maximumBytes: configuration.tokenCacheBytes,
                metrics: metrics
            )
        }
        let decisionLog = DecisionLog(configuration: configuration.decisionLog, metrics: metrics)
        let context = DataContext(
            store: store,
            tokenCaches: caches,
            metrics: metrics,
            decisionLog: decisionLog,
            draining: ManagedAtomic(false)
        )

        let inherited = SystemdSockets.fromEnvironment()
        let dataListener = try inherited.listener(SystemdSockets.dataName) ?? .path(configuration.data)
        let controlListener = try inherited.listener(SystemdSockets.controlName) ?? .path(configuration.control)
        let data = try await DataServer.bind(
            dataListener,
            group: group,
            configuration: configuration,
            context: context,
            logger: logger
        )
        let envoy: EnvoyServer?
        do {
            envoy =
                EnvoyServer.isConfigured(configuration.envoy, inherited)
                ? try await EnvoyServer.bind(
                    inherited,
                    group: group,
                    configuration: configuration.envoy,
                    drainTime: configuration.drainTime,
                    context: context,
                    logger: logger
                ) : nil
        } catch {
            await data.abandon()
            throw error
        }
        let http: HTTPServer?
        do {
            http =
                HTTPServer.isConfigured(configuration.http, inherited)
                ? try await HTTPServer.bind(
                    inherited,
                    configuration: configuration.http,
                    routes: HTTPRoutes(updater: updater, keys: keys, metrics: metrics),
                    logger: logger
                ) : nil
        } catch {
            await data.abandon()
            envoy?.abandon()
            throw error
        }
        let fleet: FleetShadow?
        if let registry, let etcd = updater.etcd, let source = configuration.etcd {
            fleet = FleetShadow(
                etcd: etcd,
                updater: updater,
                registry: registry,
                progressInterval: source.progressInterval,
                logger: logger
            )
        } else {
            fleet = nil
        }
        let control: ControlServer
        do {
            control = try await ControlServer.bind(
                controlListener,
                group: group,
                configuration: configuration,
                processor: ControlRequestProcessor(updater: updater, keys: keys, metrics: metrics, fleet: fleet),
                metrics: metrics,
                logger: logger
            )
        } catch {
            await data.abandon()
            envoy?.abandon()
            await http?.abandon()
            throw error
        }

        // Shut down in reverse order: the Envoy service and the data socket drain first, the
        // decision log last.
        // Only now, holding the sockets, is no other daemon writing next to the rules file.
        updater.file.removeStaleTemporaryFiles()
        let source: any Service =
            if let etcd = updater.etcd, let settings = configuration.etcd {
                EtcdRulesSource(
                    store: etcd,
                    updater: updater,
                    progressInterval: settings.progressInterval,
                    logger: logger
                )
            } else {
                RulesWatcher(updater: updater, pollInterval: configuration.pollInterval, logger: logger)
            }
        let services: [any Service] =
            [
                DecisionLogWriter(log: decisionLog, logger: logger),
                source,
                keys,
                control,
                data,
            ] + (envoy.map { [$0 as any Service] } ?? []) + (http.map { [$0 as any Service] } ?? [])
            + (registry.map { [NodeRegistryService(registry: $0) as any Service] } ?? [])
            + (fleet.map { [FleetShadowService(fleet: $0) as any Service] } ?? [])
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        logger.info(
            "moatd started",
            metadata: ["rules": "\(configuration.rulesFile)", "ready": "\(store.serving != nil)"]
        )
        try await serviceGroup.run()
        logger.info("moatd stopped")
    }
}
