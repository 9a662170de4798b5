import AsyncHTTPClient
import Logging
import MoatCore
import MoatIdentity
import MoatWire
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Keeps the key set of every tenant with a key source current (`docs/semantics.md`, "Signing keys
/// kept current"; `docs/running.md`, "Signing keys"), and publishes each change to the `RuleStore`
/// under a new generation.
///
/// - Fetched sources are refreshed in the background (`KeysConfiguration.refreshInterval`, shorter
///   when the server's `max-age` says so), on demand (`moatctl keys refresh`), and when a token names
///   an unknown `kid` (`UnknownKeyGate`: at most once per five minutes per tenant). One fetch per
///   tenant at a time: a refresh asked for while one runs waits for it.
/// - A set that fails to fetch or to validate is never applied: the last good set keeps serving;
///   the failure is logged, counted and shown.
/// - Fetched sets are written to `--state-dir` and read back at start.
/// - `jwksFile`s are looked at every `KeysConfiguration.tick` and read again when they change.
///
/// Checks never wait for any of this: they read the published state with one atomic load.
actor KeyManager: Service {
    private struct Tenant {
        var source: KeySource
        var entry: FetchedKeys.Entry?
        var lastError: String?
        /// When the next background refresh is due (fetched sources).
        var nextRefresh = ContinuousClock.now
        /// Failed refreshes in a row, for the retry delay.
        var failures = 0
        var refreshing: Task<Void, Never>?
        /// The `jwksFile`'s last look: `nil` before the first.
        var fileLook: RulesFile.Fingerprint??
    }

    private let store: RuleStore
    private let fetcher: KeyFetcher
    private let configuration: KeysConfiguration
    private let metrics: ServerMetrics
    private let logger: Logger
    private var tenants: [String: Tenant] = [:]
    private var generation: UInt64 = 0
    /// The rules revision the tenants were last reconciled with.
    private var reconciledSequence: UInt64?
    private var gate: UnknownKeyGate?

    /// Whether `close()` ran: the HTTP client is shut down.
    private var closed = false

    /// Fetches run on `group`'s event loops; `close()` must be called once the manager is no longer
    /// needed (`run()` does it when it returns).
    init(
        store: RuleStore,
        configuration: KeysConfiguration,
        group: any EventLoopGroup,
        metrics: ServerMetrics,
        logger: Logger
    ) throws {
        self.store = store
        self.configuration = configuration
        self.fetcher = KeyFetcher(
            client: try KeyFetcher.makeClient(configuration, group: group),
            configuration: configuration
        )
        self.metrics = metrics
        self.logger = logger
    }

    /// Takes in the serving rules' key sources and the sets kept in the state directory, before
    /// anything is served, so that a restart without network verifies tokens at once.
    func start() async {
        gate = UnknownKeyGate { [weak self] tenant in
            Task { await self?.refresh(tenant, reason: "a token named an unknown kid") }
        }
        await reconcile()
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.tick()
                try? await Task.sleep(for: KeysConfiguration.tick)
            }
        }
        await close()
    }

    /// Stops every refresh and shuts the HTTP client down; refreshes asked for later do nothing.
    func close() async {
        guard !closed else { return }
        closed = true
        for tenant in tenants.values { tenant.refreshing?.cancel() }
        for tenant in tenants.values { await tenant.refreshing?.value }
        try? await fetcher.client.shutdown()
    }

    /// Follows rule changes, starts due refreshes, reads changed `jwksFile`s, updates the ages.
    private func tick() async {
        if store.serving?.revision.sequence != reconciledSequence { await reconcile() }
        let now = ContinuousClock.now
        for (id, tenant) in tenants {
            switch tenant.source {
            case .jwksFile: await readFile(id)
            case .jwksUri, .openIdConfiguration:
                if tenant.refreshing == nil && tenant.nextRefresh <= now { startRefresh(id, reason: "scheduled") }
            }
        }
        let millis = WallClock.millis()
        for (id, tenant) in tenants {
            if let entry = tenant.entry {
                metrics.setKeySetAge(tenant: id, seconds: Double(millis - entry.fetchedAtMillis) / 1000)
            }
        }
    }

    /// Matches the tenants to the serving rules' key sources: new ones start (from the state
    /// directory, then a fetch), removed or changed ones stop.
    private func reconcile() async {
        let serving = store.serving
        reconciledSequence = serving?.revision.sequence
        let sources = Dictionary(
            (serving?.snapshot.tenants ?? []).compactMap { tenant in tenant.source.map { (tenant.tenantId, $0) } },
            uniquingKeysWith: { first, _ in first }
        )
        var changed = false
        var added: [String] = []
        for (id, tenant) in tenants where sources[id] != tenant.source {
            tenant.refreshing?.cancel()
            tenants[id] = nil
            metrics.removeKeySetAge(tenant: id)
            changed = changed || tenant.entry != nil
        }
        for (id, source) in sources where tenants[id] == nil {
            var tenant = Tenant(source: source)
            if source.isFetched, let persisted = await loadPersisted(id, source: source) {
                tenant.entry = persisted
                changed = true
            }
            tenants[id] = tenant
            added.append(id)
        }
        if changed || generation == 0 { publish() }
        for id in added {
            if tenants[id]?.source.isFetched == true {
                startRefresh(id, reason: "new key source")
            } else {
                await readFile(id)
            }
        }
    }

    // MARK: - Refreshing

    /// Refreshes one tenant's set now, or waits for the refresh already running.
    func refresh(_ id: String, reason: String) async {
        guard let tenant = tenants[id] else { return }
        if case .jwksFile = tenant.source {
            tenants[id]?.fileLook = nil
            await readFile(id)
            return
        }
        await (tenant.refreshing ?? startRefresh(id, reason: reason)).value
    }

    /// Refreshes every tenant with a key source, or the one named (KeysRefresh); their states after.
    func refreshAll(tenant: String?) async throws(StatusError) -> [TenantKeysStatus] {
        if store.serving?.revision.sequence != reconciledSequence { await reconcile() }
        let targets = tenant.map { [$0.lowercased()] } ?? Array(tenants.keys)
        if let tenant, tenants[tenant.lowercased()] == nil {
            throw StatusError(
                .notFound,
                "no tenant '\(tenant)' with a key source (openIdConfiguration, jwksUri or jwksFile)"
            )
        }
        await withDiscardingTaskGroup { group in
            for id in targets { group.addTask { await self.refresh(id, reason: "moatctl keys refresh") } }
        }
        return status().filter { targets.contains($0.tenantId) }
    }

    @discardableResult
    private func startRefresh(_ id: String, reason: String) -> Task<Void, Never> {
        let task = Task { if !self.closed { await self.performRefresh(id, reason: reason) } }
        tenants[id]?.refreshing = task
        return task
    }

    private func performRefresh(_ id: String, reason: String) async {
        guard let source = tenants[id]?.source else { return }
        let etag = tenants[id]?.entry?.etag
        let result: Result<KeyFetcher.Outcome, KeyFetcher.Failure>
        do throws(KeyFetcher.Failure) {
            result = .success(try await fetcher.fetch(source, etag: etag))
        } catch {
            result = .failure(error)
        }
        // The rules may have dropped or changed the source meanwhile.
        guard tenants[id]?.source == source else { return }
        // Done fetching: a refresh asked for from now on fetches again (a kid that appeared since
        // this fetch began must not wait for the state file to be written).
        tenants[id]?.refreshing = nil
        let millis = WallClock.millis()
        switch result {
        case .success(.notModified(let maxAge)):
            tenants[id]?.entry?.fetchedAtMillis = millis
            tenants[id]?.entry?.origin = .fetched
            succeeded(id, maxAge: maxAge, result: "not_modified")
            logger.debug("key set unchanged (HTTP 304)", metadata: ["tenant": "\(id)", "reason": "\(reason)"])
            if let entry = tenants[id]?.entry { await persist(id, entry) }
        case .success(.document(let bytes, let newEtag, let maxAge)):
            let set: TenantKeySet
            do {
                set = try TenantKeySet(tenantId: id, jwks: bytes)
            } catch {
                failed(id, "the key set from \(source) is invalid and was not applied: \(error)", result: "invalid")
                return
            }
            let entry = FetchedKeys.Entry(
                source: source,
                set: set,
                fetchedAtMillis: millis,
                etag: newEtag,
                origin: .fetched
            )
            let previous = tenants[id]?.entry?.set.keyIDs
            tenants[id]?.entry = entry
            succeeded(id, maxAge: maxAge, result: "success")
            if previous != set.keyIDs {
                logger.info(
                    "key set updated",
                    metadata: [
                        "tenant": "\(id)", "kids": "\(set.keyIDs.joined(separator: ","))", "reason": "\(reason)",
                    ]
                )
            }
            publish()
            await persist(id, entry)
        case .failure(let failure):
            failed(id, "fetching the key set failed: \(failure)", result: "failure")
        }
    }

    private func succeeded(_ id: String, maxAge: Int?, result: String) {
        metrics.countKeyFetch(tenant: id, result: result)
        let byServer = maxAge.map { max(Duration.seconds($0), KeysConfiguration.minimumRefreshInterval) }
        schedule(id, after: min(configuration.refreshInterval, byServer ?? configuration.refreshInterval))
        tenants[id]?.failures = 0
        tenants[id]?.lastError = nil
    }

    /// Logs and counts a failure, keeps the last good set, retries sooner (10 s, doubling, at most 5 min).
    private func failed(_ id: String, _ message: String, result: String) {
        metrics.countKeyFetch(tenant: id, result: result)
        let failures = (tenants[id]?.failures ?? 0) + 1
        tenants[id]?.failures = failures
        tenants[id]?.lastError = message
        let retry = min(Duration.seconds(10 << min(failures - 1, 5)), KeysConfiguration.minimumRefreshInterval)
        schedule(id, after: min(configuration.refreshInterval, retry))
        let keeping = tenants[id]?.entry.map { "keeping the set of \($0.set.keyIDs.count) keys" } ?? "no key set yet"
        logger.error("\(message); \(keeping)", metadata: ["tenant": "\(id)"])
    }

    private func schedule(_ id: String, after delay: Duration) {
        tenants[id]?.nextRefresh = ContinuousClock.now + delay
    }

    // MARK: - Files

    /// Reads a `jwksFile` when it changed since the last look; an invalid or missing file keeps the last good set.
    private func readFile(_ id: String) async {
        guard let tenant = tenants[id], case .jwksFile(let path) = tenant.source else { return }
        let file = RulesFile(path: path)
        guard let look = await blocking({ file.fingerprint() }), tenant.fileLook != .some(look) else { return }
        tenants[id]?.fileLook = look
        guard let read = await blocking({ Result { () throws(RulesFileError) in try file.read() } }),
            tenants[id]?.source == tenant.source
        else { return }
        let bytes: [UInt8]
        switch read {
        case .success(let read): bytes = read
        case .failure(let error):
            failed(id, "jwksFile '\(path)': \(error.message)", result: "failure")
            return
        }
        let set: TenantKeySet
        do {
            set = try TenantKeySet(tenantId: id, jwks: bytes)
        } catch {
            failed(id, "jwksFile '\(path)' is invalid and was not applied: \(error)", result: "invalid")
            return
        }
        tenants[id]?.entry = FetchedKeys.Entry(
            source: tenant.source,
            set: set,
            fetchedAtMillis: WallClock.millis(),
            etag: nil,
            origin: .file
        )
        tenants[id]?.lastError = nil
        metrics.countKeyFetch(tenant: id, result: "success")
        logger.info(
            "key set read",
            metadata: ["tenant": "\(id)", "file": "\(path)", "kids": "\(set.keyIDs.joined(separator: ","))"]
        )
        publish()
    }

    /// Writes a fetched set to the state directory (atomically: `RulesFile.replace`); a failure is logged.
    private func persist(_ id: String, _ entry: FetchedKeys.Entry) async {
        guard let directory = configuration.stateDirectory else { return }
        let bytes = PersistedKeySet(
            tenantId: id,
            source: entry.source.description,
            fetchedAtUnixMillis: entry.fetchedAtMillis,
            etag: entry.etag,
            jwks: entry.set.jwks
        ).encoded()
        let file = RulesFile(path: "\(directory)/\(PersistedKeySet.fileName(tenantId: id))")
        let written = await blocking { Result { () throws(RulesFileError) in try file.replace(with: bytes) } }
        if case .failure(let error) = written {
            logger.error(
                "cannot keep the key set in the state directory",
                metadata: ["tenant": "\(id)", "error": "\(error)"]
            )
        }
    }

    /// The set kept in the state directory for this source, if any and valid.
    private func loadPersisted(_ id: String, source: KeySource) async -> FetchedKeys.Entry? {
        guard let directory = configuration.stateDirectory else { return nil }
        let file = RulesFile(path: "\(directory)/\(PersistedKeySet.fileName(tenantId: id))")
        guard case .success(let bytes)? = await blocking({ Result { () throws(RulesFileError) in try file.read() } })
        else { return nil }
        do {
            let persisted = try PersistedKeySet(decoding: bytes)
            guard persisted.tenantId == id, let set = try persisted.keySet(from: source) else { return nil }
            logger.info(
                "key set loaded from the state directory",
                metadata: ["tenant": "\(id)", "kids": "\(set.keyIDs.joined(separator: ","))"]
            )
            return FetchedKeys.Entry(
                source: source,
                set: set,
                fetchedAtMillis: persisted.fetchedAtUnixMillis,
                etag: persisted.etag,
                origin: .persisted
            )
        } catch {
            logger.error(
                "ignoring an invalid key-set state file",
                metadata: ["file": "\(file.path)", "error": "\(error)"]
            )
            return nil
        }
    }

    /// Runs blocking file work on the thread pool; `nil` when it no longer runs work (stopping).
    private func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T? {
        try? await NIOThreadPool.singleton.runIfActive(work)
    }

    // MARK: - Publishing and reporting

    private func publish() {
        generation += 1
        var sets: [String: FetchedKeys.Entry] = [:]
        for (id, tenant) in tenants { sets[id] = tenant.entry }
        store.publish(FetchedKeys(generation: generation, sets: sets, unknownKey: gate))
    }

    /// Every tenant of the serving rules, for `moatctl status` / `moatctl keys list`: those with a
    /// key source, and those with the document's keys only (source `nil`).
    func status() -> [TenantKeysStatus] {
        (store.serving?.snapshot.tenants ?? []).map { tenant in
            let documentKeys = tenant.keys.map(\.id)
            // A source the rules just gained or changed is taken in at the next tick.
            guard let state = tenants[tenant.tenantId], state.source == tenant.source else {
                return TenantKeysStatus(
                    tenantId: tenant.tenantId,
                    source: tenant.source?.description,
                    keyIDs: documentKeys.sorted(),
                    origin: tenant.source == nil ? "document" : "none"
                )
            }
            return TenantKeysStatus(
                tenantId: tenant.tenantId,
                source: state.source.description,
                keyIDs: Set(documentKeys + (state.entry?.set.keyIDs ?? [])).sorted(),
                origin: state.entry?.origin.rawValue ?? "none",
                fetchedAtUnixMillis: state.entry?.fetchedAtMillis,
                nextRefreshUnixMillis: state.source.isFetched ? Self.wallMillis(state.nextRefresh) : nil,
                lastError: state.lastError
            )
        }
    }

    /// A point of the monotonic clock as wall-clock Unix milliseconds, for display.
    private static func wallMillis(_ instant: ContinuousClock.Instant) -> Int64 {
        let (seconds, attoseconds) = ContinuousClock.now.duration(to: instant).components
        return WallClock.millis() + seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
