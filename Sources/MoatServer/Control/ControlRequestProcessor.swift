import MoatCore
import MoatWire
import NIOCore

/// Answers the frames of the control socket: rule updates and operator queries, each handed to
/// the `RuleUpdater` (which serialises them) and answered when it is done.
struct ControlRequestProcessor: Sendable {
    let updater: RuleUpdater
    let metrics: ServerMetrics

    func answer(_ frame: Frame, allocator: ByteBufferAllocator) async -> (frame: Frame, closesConnection: Bool) {
        if let violation = frame.requestFlagViolation {
            return (
                reply(frame, StatusError(code: violation.status, message: violation.description), allocator),
                violation.closesConnection
            )
        }
        do throws(StatusError) {
            let payload = try await respond(frame, allocator: allocator)
            return (Frame(respondingTo: frame, status: .ok, payload: payload), false)
        } catch {
            return (reply(frame, error, allocator), false)
        }
    }

    private func respond(_ frame: Frame, allocator: ByteBufferAllocator) async throws(StatusError) -> ByteBuffer {
        switch frame.method {
        case .putDocument:
            let request = try decode(PutDocumentRequest.self, frame)
            return try encode(
                await change { () async throws(ControlError) in
                    try await updater.put(
                        request.document,
                        expectedRevision: request.expectedRevision,
                        dryRun: request.dryRun
                    )
                },
                allocator
            )
        case .applyChange:
            let request = try decode(ApplyChangeRequest.self, frame)
            return try encode(
                await change { () async throws(ControlError) in
                    try await updater.apply(
                        request.change,
                        expectedRevision: request.expectedRevision,
                        dryRun: request.dryRun
                    )
                },
                allocator
            )
        case .rollback:
            let request = try decode(RollbackRequest.self, frame)
            return try encode(
                await change { () async throws(ControlError) in try await updater.rollback(to: request.revisionHash) },
                allocator
            )
        case .reload:
            _ = try decode(ReloadRequest.self, frame)
            return try encode(
                await change { () async throws(ControlError) in
                    try await updater.reloadFromFile(reason: "Reload request", force: true).get()
                },
                allocator
            )
        case .getDocument:
            let request = try decode(GetDocumentRequest.self, frame)
            let (document, revision) = try await control { () async throws(ControlError) in
                try await updater.document(vault: request.vault)
            }
            return try encode(GetDocumentResponse(document: document, revision: revision), allocator)
        case .status:
            _ = try decode(StatusRequest.self, frame)
            let status = await updater.status()
            let counts = status.serving?.snapshot.counts ?? Snapshot.Counts()
            return try encode(
                StatusResponse(
                    ready: status.ready,
                    notReadyReason: status.notReadyReason,
                    revision: status.serving?.revision,
                    loadedAtUnixMillis: status.serving?.loadedAtMillis ?? 0,
                    rulesFile: status.rulesFile,
                    uptimeSeconds: status.uptimeSeconds,
                    vaults: counts.vaults,
                    ipRules: counts.ipRules,
                    virtualNetworkRules: counts.virtualNetworkRules,
                    accessPolicies: counts.accessPolicies,
                    roleAssignments: counts.roleAssignments,
                    history: status.history,
                    reloadFailures: status.reloadFailures,
                    lastReloadError: status.lastReloadError
                ),
                allocator
            )
        case .metrics:
            _ = try decode(MetricsRequest.self, frame)
            return try encode(MetricsResponse(text: metrics.text()), allocator)
        default:
            metrics.countRefusal(.unknownMethod)
            let message =
                frame.method.socket == .data
                ? "\(frame.method) is served on the data socket, not the control socket"
                : "unknown method id \(frame.method.rawValue)"
            throw StatusError(code: .unimplemented, message: message)
        }
    }

    private func change(
        _ body: () async throws(ControlError) -> RuleUpdater.ChangeResult
    ) async throws(StatusError) -> ChangeResponse {
        let result = try await control(body)
        return ChangeResponse(changed: result.changed, revision: result.revision, summary: result.summary)
    }

    private func control<Value>(_ body: () async throws(ControlError) -> Value) async throws(StatusError) -> Value {
        do {
            return try await body()
        } catch {
            let code: StatusCode =
                switch error.code {
                case .invalidArgument: .invalidArgument
                case .notFound: .notFound
                case .failedPrecondition: .failedPrecondition
                case .aborted: .aborted
                case .internalError: .internalError
                }
            throw StatusError(
                code: code,
                message: error.message,
                details: error.details.map { StatusError.Detail(path: $0.path, message: $0.message) }
            )
        }
    }

    private func decode<Message: WireMessage>(_: Message.Type, _ frame: Frame) throws(StatusError) -> Message {
        do {
            return try Message(wirePayload: frame.payload)
        } catch {
            metrics.countRefusal(.undecodablePayload)
            throw StatusError(code: .invalidArgument, message: error.message)
        }
    }

    private func encode(_ message: some WireMessage, _ allocator: ByteBufferAllocator) throws(StatusError) -> ByteBuffer
    {
        var buffer = allocator.buffer(capacity: 256)
        do {
            try message.encode(into: &buffer)
        } catch {
            throw StatusError(code: .internalError, message: "could not encode the answer: \(error.message)")
        }
        return buffer
    }

    private func reply(_ request: Frame, _ error: StatusError, _ allocator: ByteBufferAllocator) -> Frame {
        Frame(respondingTo: request, status: error.code, payload: error.payload(allocator))
    }
}
