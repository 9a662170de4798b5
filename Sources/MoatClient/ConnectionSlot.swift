import NIOCore
import Synchronization

/// One place in the client's pool: a connection, made on first use and remade when it closes,
/// with exponential backoff (and jitter) between failed attempts so that a missing daemon costs
/// callers an immediate "could not decide", not a connect attempt each.
final class ConnectionSlot: Sendable {
    private struct State {
        var connection: MoatConnection?
        var nextAttempt: NIODeadline = .uptimeNanoseconds(0)
        var backoff: Duration = .zero
        var lastError: MoatClientError?
    }

    private let state = Mutex(State())
    /// Called after a new connection is made (the daemon may have restarted).
    private let onConnect: @Sendable () -> Void

    init(onConnect: @escaping @Sendable () -> Void) {
        self.onConnect = onConnect
    }

    func connection(
        socketPath: String,
        group: any EventLoopGroup,
        configuration: MoatClient.Configuration
    ) async throws(MoatClientError) -> MoatConnection {
        let current = state.withLock { state -> Result<MoatConnection, MoatClientError>? in
            if let connection = state.connection, connection.isActive { return .success(connection) }
            state.connection = nil
            if let error = state.lastError, NIODeadline.now() < state.nextAttempt { return .failure(error) }
            return nil
        }
        switch current {
        case .success(let connection): return connection
        case .failure(let error): throw error
        case nil: break
        }
        do {
            let connection = try await MoatConnection.connect(
                socketPath: socketPath,
                group: group,
                maximumRequestLength: configuration.maximumRequestFrameLength,
                maximumAnswerLength: configuration.maximumAnswerFrameLength
            )
            let winner = state.withLock { state -> MoatConnection in
                // Another caller may have connected meanwhile: keep one connection per slot.
                if let existing = state.connection, existing.isActive { return existing }
                state.connection = connection
                state.backoff = .zero
                state.lastError = nil
                return connection
            }
            if winner !== connection {
                await connection.close()
            } else {
                onConnect()
            }
            return winner
        } catch {
            state.withLock { state in
                let doubled = state.backoff == .zero ? configuration.initialReconnectBackoff : state.backoff * 2
                state.backoff = min(doubled, configuration.maximumReconnectBackoff)
                let jittered = state.backoff * Double.random(in: 0.5...1.5)
                state.nextAttempt = .now() + TimeAmount(jittered)
                state.lastError = error
            }
            throw error
        }
    }

    func close() async {
        let connection = state.withLock { state -> MoatConnection? in
            defer { state.connection = nil }
            return state.connection
        }
        await connection?.close()
    }
}
