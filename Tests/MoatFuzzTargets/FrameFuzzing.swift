import MoatWire
import NIOCore

/// The frame decoder on a byte stream (`docs/protocol.md`, "Frames").
///
/// Properties: decoding never traps; every frame re-encodes to exactly the bytes it was read
/// from; and feeding the same bytes in chunks (as a socket delivers them) yields the same frames
/// and the same error as feeding them at once, so nothing is consumed before a whole frame is in.
enum FrameFuzzing {
    /// The data socket's limit: the small one, so that `frameTooLarge` is reachable.
    static var decoder: FrameDecoder { FrameDecoder(maximumLength: SocketKind.data.defaultMaximumFrameLength) }

    static func run(_ input: [UInt8]) throws(OracleViolation) {
        guard let first = input.first else { return }
        let whole = decodeAll(input, chunkSize: input.count)
        var consumed = 0
        for frame in whole.frames {
            var encoded = ByteBuffer()
            let size = encoded.writeFrame(frame)
            guard Array(input[consumed..<(consumed + size)]) == encoded.readableBytesView.map({ $0 }) else {
                throw OracleViolation("frame at offset \(consumed) does not re-encode to the bytes it was read from")
            }
            consumed += size
        }
        let chunkSize = Int(first % 29) + 1
        let chunked = decodeAll(input, chunkSize: chunkSize)
        guard chunked.frames == whole.frames, chunked.error == whole.error else {
            throw OracleViolation(
                "\(chunkSize)-byte chunks decode to \(chunked.frames.count) frames (\(chunked.error.map { "\($0)" } ?? "no error")) "
                    + "but the whole input to \(whole.frames.count) (\(whole.error.map { "\($0)" } ?? "no error"))"
            )
        }
    }

    /// Every frame in `input`, delivered `chunkSize` bytes at a time, and the error that stopped
    /// the stream, if any.
    private static func decodeAll(_ input: [UInt8], chunkSize: Int) -> (frames: [Frame], error: FrameError?) {
        var buffer = ByteBuffer()
        var frames: [Frame] = []
        var offset = 0
        while offset < input.count {
            let end = min(offset + chunkSize, input.count)
            buffer.writeBytes(input[offset..<end])
            offset = end
            do {
                while let frame = try decoder.readFrame(from: &buffer) {
                    frames.append(frame)
                }
            } catch {
                return (frames, error)
            }
        }
        return (frames, nil)
    }
}
