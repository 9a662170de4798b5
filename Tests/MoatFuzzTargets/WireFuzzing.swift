import MoatCore
import MoatWire
import NIOCore

/// One frame as it arrives on a socket; its method, response flag and status pick the protobuf
/// message its payload is decoded as (`docs/protocol.md`, "Methods"), so the fuzzer reaches every
/// message of both sockets by changing header bytes: requests, answers and `moat.v1.Error`.
///
/// Properties: decoding never traps, whatever the bytes (the C string pre-check,
/// `protobuf_c_message_unpack`, the conversion to Swift values); a refusal is a
/// `MessageCodingError`; and a payload that decodes re-encodes to one that decodes to the same value.
enum WireFuzzing {
    /// The control socket's limit: the larger one, so that whole documents fit.
    static var decoder: FrameDecoder { FrameDecoder(maximumLength: SocketKind.control.defaultMaximumFrameLength) }

    static func run(_ input: [UInt8]) throws(OracleViolation) {
        var buffer = ByteBuffer(bytes: input)
        guard let frame = try? decoder.readFrame(from: &buffer) else { return }
        if frame.isResponse && frame.status != .ok {
            return try roundTrip(StatusError.self, frame.payload)
        }
        switch (frame.method, frame.isResponse) {
        case (.check, false): try roundTrip(CheckRequest.self, frame.payload)
        case (.check, true): try roundTrip(Decision.self, frame.payload)
        case (.checkBatch, false): try roundTrip(CheckBatchRequest.self, frame.payload)
        case (.checkBatch, true): try roundTrip(CheckBatchResponse.self, frame.payload)
        case (.ping, false): try roundTrip(Ping.self, frame.payload)
        case (.ping, true): try roundTrip(Pong.self, frame.payload)
        case (.putDocument, false): try roundTrip(PutDocumentRequest.self, frame.payload)
        case (.applyChange, false): try roundTrip(ApplyChangeRequest.self, frame.payload)
        case (.putDocument, true), (.applyChange, true), (.rollback, true), (.reload, true):
            try roundTrip(ChangeResponse.self, frame.payload)
        case (.getDocument, false): try roundTrip(GetDocumentRequest.self, frame.payload)
        case (.getDocument, true): try roundTrip(GetDocumentResponse.self, frame.payload)
        case (.status, false): try roundTrip(StatusRequest.self, frame.payload)
        case (.status, true): try roundTrip(StatusResponse.self, frame.payload)
        case (.rollback, false): try roundTrip(RollbackRequest.self, frame.payload)
        case (.reload, false): try roundTrip(ReloadRequest.self, frame.payload)
        case (.metrics, false): try roundTrip(MetricsRequest.self, frame.payload)
        case (.metrics, true): try roundTrip(MetricsResponse.self, frame.payload)
        case (.keysList, false): try roundTrip(KeysListRequest.self, frame.payload)
        case (.keysRefresh, false): try roundTrip(KeysRefreshRequest.self, frame.payload)
        case (.keysList, true), (.keysRefresh, true): try roundTrip(KeysResponse.self, frame.payload)
        case (.fleetStatus, false): try roundTrip(FleetStatusRequest.self, frame.payload)
        case (.fleetStatus, true): try roundTrip(FleetStatusResponse.self, frame.payload)
        default: return
        }
    }

    private static func roundTrip<Message: WireMessage & Equatable>(
        _: Message.Type,
        _ payload: ByteBuffer
    ) throws(OracleViolation) {
        guard let decoded = try? Message(wirePayload: payload) else { return }
        var encoded = ByteBuffer()
        do {
            try decoded.encode(into: &encoded)
        } catch {
            throw OracleViolation("a decoded \(Message.self) does not encode: \(error)")
        }
        let again: Message
        do {
            again = try Message(wirePayload: encoded)
        } catch {
            throw OracleViolation("a re-encoded \(Message.self) does not decode: \(error)")
        }
        guard again == decoded else {
            throw OracleViolation("\(Message.self) changes through encode and decode: \(decoded) became \(again)")
        }
    }
}
