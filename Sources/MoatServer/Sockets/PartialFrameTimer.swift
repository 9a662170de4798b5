import MoatWire
import NIOCore

/// The partial-frame timeout of both sockets (docs/protocol.md "Limits"): a frame begun but not
/// completed in time is answered INVALID_ARGUMENT on stream 0 and the connection is closed. The
/// timeout is per frame: every completed frame restarts it, and it stops while no frame is begun.
///
/// Used on the connection's event loop only.
struct PartialFrameTimer {
    let timeout: TimeAmount
    private let metrics: ServerMetrics
    private var scheduled: Scheduled<Void>?

    init(timeout: TimeAmount, metrics: ServerMetrics) {
        self.timeout = timeout
        self.metrics = metrics
    }

    /// The refusal to send when a timer of `timeout` expires.
    static func refusal(after timeout: TimeAmount) -> (status: StatusCode, message: String) {
        (.invalidArgument, "a frame was begun but not completed within \(timeout.nanoseconds / 1_000_000_000) s")
    }

    /// After the bytes read so far were split into frames: starts the timer when a frame is begun
    /// (`pendingBytes > 0`) and none is running, restarts it when a frame was completed, stops it
    /// when nothing is begun. `expire` runs on the event loop when the time is up (after the
    /// expiry is counted); it sends `refusal(after:)` and closes.
    mutating func update(
        pendingBytes: Int,
        completedFrame: Bool,
        eventLoop: any EventLoop,
        expire: @escaping () -> Void
    ) {
        if completedFrame || pendingBytes == 0 { stop() }
        guard pendingBytes > 0, scheduled == nil else { return }
        let metrics = self.metrics
        let bound = NIOLoopBound(expire, eventLoop: eventLoop)
        scheduled = eventLoop.scheduleTask(in: timeout) {
            metrics.countRefusal(.partialFrameTimeout)
            bound.value()
        }
    }

    /// Stops the timer (the connection closes, or stops being read for a reason of the daemon's).
    mutating func stop() {
        scheduled?.cancel()
        scheduled = nil
    }
}
