/// A share of events kept (allowed checks in the decision log, checks the shadow candidate
/// judges): `rate`, clamped to [0, 1], as a threshold for a 64-bit random draw. At 1 every event
/// is kept and nothing is drawn.
struct SampleThreshold: Sendable {
    private let threshold: UInt64

    init(rate: Double) {
        let rate = min(max(rate, 0), 1)
        threshold = rate >= 1 ? .max : UInt64((rate * 0x1p64).rounded(.down))
    }

    /// Whether the event whose random draw is `draw` is kept.
    @inline(__always)
    func samples(_ draw: @autoclosure () -> UInt64) -> Bool {
        threshold == .max || draw() < threshold
    }
}
