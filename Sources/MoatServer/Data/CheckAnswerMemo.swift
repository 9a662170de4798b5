import MoatCore
import MoatWire
import NIOCore

/// A connection's last answer to a Check: the decision and its packed `CheckResponse`. A
/// connection that asks the same question again (one service, one caller, the same vault and
/// operation) gets the same decision, and its answer is then copied after the new frame header
/// instead of being packed again (docs/performance.md, "Cuts").
///
/// The decision is compared field by field, each string byte for byte
/// (`Decision.hasSameBytes(as:)`), and its encoding depends on nothing else, so the bytes copied
/// are the bytes packing would give. Holds one answer (a few hundred bytes) per connection;
/// touched only on the connection's event loop.
final class CheckAnswerMemo {
    private var decision: Decision?
    private var payload = ByteBuffer()

    /// Appends the answer to `request` carrying `decision` to `out`, as `RequestFrames.write`
    /// does: from the memo when `decision` is the last one, else packed and remembered.
    func write(
        _ decision: Decision,
        answering request: Frame,
        into out: inout ByteBuffer,
        _ frames: RequestFrames
    ) throws(StatusError) {
        if let last = self.decision, last.hasSameBytes(as: decision) {
            out.writeFrame(streamID: request.streamID, method: request.method, flags: .response) {
                $0.writeImmutableBuffer(payload)
            }
            return
        }
        let start = out.writerIndex
        try frames.write(decision, answering: request, into: &out)
        let packed = out.writerIndex - start - Frame.headerSize
        payload.clear()
        payload.writeImmutableBuffer(out.getSlice(at: start + Frame.headerSize, length: packed)!)
        self.decision = decision
    }
}
