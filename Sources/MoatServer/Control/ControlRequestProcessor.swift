import MoatCore
import MoatWire
import NIOCore

/// Answers the frames of the control socket: rule updates and operator queries, each handed to
/// the `RuleUpdater` (which serialises them) and answered when it is done.
struct ControlRequestProcessor: Sendable {
    let updater: RuleUpdater
    let keys: KeyManager
    let metrics: ServerMetrics
    /// The fleet's shadow candidate, with the etcd source (requests with `fleet`).
    var fleet: FleetShadow? = nil

    private var frames: RequestFrames { RequestFrames(socket: .control, metrics: metrics) }

    func answer(_ frame: Frame, allocator: ByteBufferAllocator) async -> (frame: Frame, closesConnection: Bool) {
        if let refused = frames.violation(frame) {
            return (RequestFrames.reply(frame, refused.error, allocator), refused.closesConnection)
        }
        do throws(StatusError) {
            return (RequestFrames.reply(frame, try await respond(frame, allocator: allocator)), false)
        } catch {
            return (RequestFrames.reply(frame, error, allocator), false)
        }
    }

    private func respond(_ frame: Frame, allocator: ByteBufferAllocator) async throws(StatusError) -> ByteBuffer {
        switch frame.method {
        case .putDocument:
            let request = try frames.decode(PutDocumentRequest.self, frame)
            return try frames.encode(
                await updater.put(
                    request.document,
                    expectedRevision: request.expectedRevision,
                    dryRun: request.dryRun
                ),
                allocator
            )
        case .applyChange:
            let request = try frames.decode(ApplyChangeRequest.self, frame)
            if request.fleet {
                guard request.shadow else {
                    throw StatusError(
                        .invalidArgument,
                        "fleet is for a change of the shadow candidate (shadow); nothing was changed"
                    )
                }
                return try frames.encode(
                    try await fleetShadow().apply(
                        request.change,
                        expectedRevision: request.expectedRevision,
                        dryRun: request.dryRun
                    ),
                    allocator
                )
            }
            // With `shadow`, the change is made on the shadow candidate (docs/protocol.md, "Shadow rule sets").
            let apply = request.shadow ? updater.applyToShadow : updater.apply
            return try frames.encode(
                await apply(request.change, request.expectedRevision, request.dryRun),
                allocator
            )
        case .rollback:
            let request = try frames.decode(RollbackRequest.self, frame)
            return try frames.encode(
                await updater.rollback(to: request.revisionHash),
                allocator
            )
        case .reload:
            _ = try frames.decode(ReloadRequest.self, frame)
            return try frames.encode(
                await updater.reloadSource(reason: "Reload request").get(),
                allocator
            )
        case .getDocument:
            let request = try frames.decode(GetDocumentRequest.self, frame)
            let (document, revision) = try await updater.document(vault: request.vault)
            return try frames.encode(GetDocumentResponse(document: document, revision: revision), allocator)
        case .status:
            _ = try frames.decode(StatusRequest.self, frame)
            return try frames.encode(await StatusResponse.current(updater: updater, keys: keys), allocator)
        case .metrics:
            _ = try frames.decode(MetricsRequest.self, frame)
            return try frames.encode(MetricsResponse(text: metrics.text()), allocator)
        case .keysList:
            _ = try frames.decode(KeysListRequest.self, frame)
            return try frames.encode(KeysResponse(tenants: await keys.status()), allocator)
        case .keysRefresh:
            let request = try frames.decode(KeysRefreshRequest.self, frame)
            let refreshed = try await keys.refreshAll(tenant: request.tenantId)
            return try frames.encode(KeysResponse(tenants: refreshed), allocator)
        case .fleetStatus:
            _ = try frames.decode(FleetStatusRequest.self, frame)
            guard let etcd = updater.etcd else {
                throw StatusError(
                    .failedPrecondition,
                    "fleet status needs the etcd rules source (moatd --rules-source etcd)"
                )
            }
            return try frames.encode(try await etcd.fleetStatus(), allocator)
        case .shadowPush:
            let request = try frames.decode(ShadowPushRequest.self, frame)
            if request.fleet {
                return try frames.encode(
                    try await fleetShadow().push(request.document, sampleRate: request.sampleRate),
                    allocator
                )
            }
            return try frames.encode(
                await updater.pushShadow(request.document, sampleRate: request.sampleRate),
                allocator
            )
        case .shadowReport:
            let request = try frames.decode(ShadowReportRequest.self, frame)
            if request.fleet { return try frames.encode(try await fleetShadow().report(), allocator) }
            return try frames.encode(await updater.shadowReport(), allocator)
        case .shadowPromote:
            let request = try frames.decode(ShadowPromoteRequest.self, frame)
            if request.fleet {
                return try frames.encode(try await fleetShadow().promote(maximumFlips: request.maximumFlips), allocator)
            }
            return try frames.encode(await updater.promoteShadow(maximumFlips: request.maximumFlips), allocator)
        case .shadowDrop:
            let request = try frames.decode(ShadowDropRequest.self, frame)
            if request.fleet { return try frames.encode(try await fleetShadow().drop(), allocator) }
            return try frames.encode(try await updater.dropShadow(), allocator)
        default:
            throw frames.unimplemented(frame.method)
        }
    }

    /// The fleet's shadow candidate; FAILED_PRECONDITION without the etcd source.
    private func fleetShadow() throws(StatusError) -> FleetShadow {
        guard let fleet else {
            throw StatusError(
                .failedPrecondition,
                "--fleet needs the etcd rules source (moatd --rules-source etcd), where the fleet's shadow candidate is kept; nothing was changed"
            )
        }
        return fleet
    }
}
