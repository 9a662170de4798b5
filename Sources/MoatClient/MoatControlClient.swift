public import MoatCore
public import MoatWire
import NIOCore
import NIOPosix

/// The control socket's client: rule updates and operator queries (what `moatctl` uses).
///
/// ```swift
/// let status = try await MoatControlClient.withConnection(socketPath: "/run/moat/control.sock") { try await $0.status() }
/// ```
public struct MoatControlClient: Sendable {
    private let connection: MoatConnection
    private let timeout: TimeAmount

    /// Connects, runs `body`, closes. Each call waits at most `timeout` for its answer.
    public static func withConnection<Result>(
        socketPath: String,
        timeout: Duration = .seconds(60),
        _ body: (MoatControlClient) async throws -> Result
    ) async throws -> Result {
        let connection = try await MoatConnection.connect(
            socketPath: socketPath,
            group: MultiThreadedEventLoopGroup.singleton,
            // The daemon's control limit is configurable and its refusal ends only this connection;
            // the client refuses only what a frame's length field cannot hold.
            maximumRequestLength: Int(UInt32.max),
            maximumAnswerLength: SocketKind.control.defaultMaximumFrameLength
        )
        let client = MoatControlClient(connection: connection, timeout: TimeAmount(timeout))
        do {
            let result = try await body(client)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Completes when the connection has closed (internal: tests wait on it rather than sleep).
    var closeFuture: EventLoopFuture<Void> { connection.channel.closeFuture }

    private func call<Answer: WireMessage>(
        _ method: MethodID,
        _ request: some WireMessage,
        _: Answer.Type
    ) async throws(MoatClientError) -> Answer {
        let payload = try await connection.call(method, request, deadline: .now() + timeout)
        do {
            return try Answer(wirePayload: payload)
        } catch {
            throw MoatClientError.unreadableAnswer(error)
        }
    }

    /// Replaces the whole document.
    public func putDocument(
        _ document: [UInt8],
        expectedRevision: String? = nil,
        dryRun: Bool = false
    ) async throws(MoatClientError) -> ChangeResponse {
        try await call(
            .putDocument,
            PutDocumentRequest(document: document, expectedRevision: expectedRevision, dryRun: dryRun),
            ChangeResponse.self
        )
    }

    /// Applies one change to the current document.
    public func apply(
        _ change: DocumentChange,
        expectedRevision: String? = nil,
        dryRun: Bool = false
    ) async throws(MoatClientError) -> ChangeResponse {
        try await call(
            .applyChange,
            ApplyChangeRequest(change: change, expectedRevision: expectedRevision, dryRun: dryRun),
            ChangeResponse.self
        )
    }

    /// The whole document, or one vault's JSON.
    public func document(vault: String? = nil) async throws(MoatClientError) -> GetDocumentResponse {
        try await call(.getDocument, GetDocumentRequest(vault: vault), GetDocumentResponse.self)
    }

    public func status() async throws(MoatClientError) -> StatusResponse {
        try await call(.status, StatusRequest(), StatusResponse.self)
    }

    /// Returns to the revision before the current one, or to the kept revision with `hash`.
    public func rollback(to hash: String? = nil) async throws(MoatClientError) -> ChangeResponse {
        try await call(.rollback, RollbackRequest(revisionHash: hash), ChangeResponse.self)
    }

    /// Re-reads the rules file now.
    public func reload() async throws(MoatClientError) -> ChangeResponse {
        try await call(.reload, ReloadRequest(), ChangeResponse.self)
    }

    /// Prometheus text.
    public func metrics() async throws(MoatClientError) -> String {
        try await call(.metrics, MetricsRequest(), MetricsResponse.self).text
    }

    /// Every tenant of the serving rules and its signing keys (docs/running.md, "Signing keys").
    public func keys() async throws(MoatClientError) -> [TenantKeysStatus] {
        try await call(.keysList, KeysListRequest(), KeysResponse.self).tenants
    }

    /// Refreshes the key set of one tenant (or of every tenant with a key source) and returns
    /// their states once the fetches are done; NOT_FOUND for a tenant without a key source.
    public func refreshKeys(tenantId: String? = nil) async throws(MoatClientError) -> [TenantKeysStatus] {
        try await call(.keysRefresh, KeysRefreshRequest(tenantId: tenantId), KeysResponse.self).tenants
    }

    /// Every node of the etcd source's fleet (docs/etcd.md, "Fleet"); FAILED_PRECONDITION from a
    /// daemon on a rules file.
    public func fleetStatus() async throws(MoatClientError) -> FleetStatusResponse {
        try await call(.fleetStatus, FleetStatusRequest(), FleetStatusResponse.self)
    }

    /// Loads `document` as the shadow candidate, judged beside the serving rules on a share
    /// `sampleRate` of the checks (all when nil), not served (docs/protocol.md, "Shadow rule sets").
    public func shadowPush(
        _ document: [UInt8],
        sampleRate: Double? = nil
    ) async throws(MoatClientError) -> ChangeResponse {
        try await shadowPush(document, sampleRate: sampleRate, fleet: false)
    }

    /// Applies one change to the shadow candidate (a copy of the serving document when none is
    /// loaded); `expectedRevision` is compared with the serving revision.
    public func shadowApply(
        _ change: DocumentChange,
        expectedRevision: String? = nil,
        dryRun: Bool = false
    ) async throws(MoatClientError) -> ChangeResponse {
        try await shadowApply(change, expectedRevision: expectedRevision, dryRun: dryRun, fleet: false)
    }

    /// What the shadow candidate would have changed; `summary` nil when none is loaded.
    public func shadowReport() async throws(MoatClientError) -> ShadowReportResponse {
        try await shadowReport(fleet: false)
    }

    /// Makes the shadow candidate the serving document; refused (FAILED_PRECONDITION) when more
    /// than `maximumFlips` checks flipped.
    public func shadowPromote(maximumFlips: UInt64? = nil) async throws(MoatClientError) -> ChangeResponse {
        try await shadowPromote(maximumFlips: maximumFlips, fleet: false)
    }

    /// Discards the shadow candidate.
    public func shadowDrop() async throws(MoatClientError) -> ChangeResponse {
        try await shadowDrop(fleet: false)
    }

    // MARK: - The fleet's shadow candidate (docs/etcd.md, "A fleet's shadow candidate")

    /// Loads `document` as the shadow candidate; with `fleet`, puts it in etcd so that every node
    /// of the fleet judges it (FAILED_PRECONDITION from a daemon on a rules file).
    public func shadowPush(
        _ document: [UInt8],
        sampleRate: Double?,
        fleet: Bool
    ) async throws(MoatClientError) -> ChangeResponse {
        var request = ShadowPushRequest(document: document, sampleRate: sampleRate)
        request.fleet = fleet
        return try await call(.shadowPush, request, ChangeResponse.self)
    }

    /// Applies one change to the shadow candidate; with `fleet`, to the fleet's candidate in etcd
    /// (a copy of etcd's document when there is none).
    public func shadowApply(
        _ change: DocumentChange,
        expectedRevision: String? = nil,
        dryRun: Bool = false,
        fleet: Bool
    ) async throws(MoatClientError) -> ChangeResponse {
        var request = ApplyChangeRequest(change: change, expectedRevision: expectedRevision, dryRun: dryRun)
        request.shadow = true
        request.fleet = fleet
        return try await call(.applyChange, request, ChangeResponse.self)
    }

    /// What the shadow candidate would have changed; with `fleet`, every live node's report on the
    /// fleet's candidate, summed (`nodes`, `missingNodes`).
    public func shadowReport(fleet: Bool) async throws(MoatClientError) -> ShadowReportResponse {
        try await call(.shadowReport, ShadowReportRequest(fleet: fleet), ShadowReportResponse.self)
    }

    /// Makes the shadow candidate the serving document; with `fleet`, the fleet's candidate, its
    /// limit checked against every node's report summed.
    public func shadowPromote(maximumFlips: UInt64?, fleet: Bool) async throws(MoatClientError) -> ChangeResponse {
        var request = ShadowPromoteRequest(maximumFlips: maximumFlips)
        request.fleet = fleet
        return try await call(.shadowPromote, request, ChangeResponse.self)
    }

    /// Discards the shadow candidate; with `fleet`, deletes the fleet's candidate from etcd.
    public func shadowDrop(fleet: Bool) async throws(MoatClientError) -> ChangeResponse {
        try await call(.shadowDrop, ShadowDropRequest(fleet: fleet), ChangeResponse.self)
    }
}
