package import NIOCore

/// One message on a Moat socket (`docs/protocol.md`): a 12-byte header and a payload.
///
/// ```text
/// 4 length N (everything after this field, N >= 8) | 4 stream id | 1 method | 1 flags | 2 status | N-8 payload
/// ```
/// All integers are big-endian. The payload is the method's protobuf message when `status` is OK,
/// else a `StatusError`.
///
/// ```swift
/// let request = Frame(streamID: 7, method: .check, payload: payload)
/// let answer = Frame(respondingTo: request, status: .ok, payload: decisionPayload)
/// ```
package struct Frame: Hashable, Sendable {
    /// Bytes of the length field.
    package static let lengthFieldSize = 4
    /// Bytes after the length field before the payload (stream id, method, flags, status): the
    /// smallest valid N.
    package static let minimumLength = 8
    /// Bytes of the whole header.
    package static let headerSize = lengthFieldSize + minimumLength

    /// Chosen by the client, echoed in the answer; the daemon does not interpret it.
    package var streamID: UInt32
    package var method: MethodID
    package var flags: Flags
    /// OK in requests; a gRPC canonical code in responses.
    package var status: StatusCode
    package var payload: ByteBuffer

    package init(
        streamID: UInt32,
        method: MethodID,
        flags: Flags = [],
        status: StatusCode = .ok,
        payload: ByteBuffer = ByteBuffer()
    ) {
        self.streamID = streamID
        self.method = method
        self.flags = flags
        self.status = status
        self.payload = payload
    }

    /// The answer to `request`: same stream id and method, the response flag set.
    package init(respondingTo request: Frame, status: StatusCode, payload: ByteBuffer) {
        self.init(
            streamID: request.streamID,
            method: request.method,
            flags: .response,
            status: status,
            payload: payload
        )
    }

    /// Whether this frame is an answer (flag bit 0).
    package var isResponse: Bool { flags.contains(.response) }

    /// The frame's length field N: everything after it.
    package var length: Int { Frame.minimumLength + payload.readableBytes }
}

extension Frame {
    /// A frame's flags byte. Bit 0 marks a response; the other bits are reserved and must be zero.
    package struct Flags: OptionSet, Hashable, Sendable {
        package var rawValue: UInt8

        package init(rawValue: UInt8) {
            self.rawValue = rawValue
        }

        /// Bit 0: this frame is a response.
        package static let response = Flags(rawValue: 1 << 0)

        /// The reserved bits that are set (empty when the byte is valid).
        package var reserved: Flags { subtracting(.response) }
    }

    /// Why a request frame's header is not acceptable (docs/protocol.md, "Limits"). The frame
    /// decoder does not judge flags or status; the daemon asks `requestHeaderViolation` and
    /// answers INVALID_ARGUMENT.
    package enum HeaderViolation: Hashable, Sendable, CustomStringConvertible {
        /// Bit 0 set in a request: the peer is confused about who is who; answer, then close.
        case responseBitInRequest
        /// Reserved bits set: answer this request, keep the connection.
        case reservedBits(Flags)
        /// A status other than 0 (OK) in a request: answer this request, keep the connection.
        case statusInRequest(StatusCode)

        /// Whether the daemon closes the connection after answering.
        package var closesConnection: Bool {
            switch self {
            case .responseBitInRequest: true
            case .reservedBits, .statusInRequest: false
            }
        }

        /// All are answered INVALID_ARGUMENT.
        package var status: StatusCode { .invalidArgument }

        package var description: String {
            switch self {
            case .responseBitInRequest:
                "the response flag (bit 0) is set in a request"
            case .reservedBits(let bits):
                "reserved flag bits are set (0x\(String(bits.rawValue, radix: 16, uppercase: false)))"
            case .statusInRequest(let status):
                "the status field of a request must be 0, not \(status.rawValue) (\(status))"
            }
        }
    }

    /// What is wrong with this frame's header when it is a request; `nil` when nothing is. A set
    /// response bit takes precedence over reserved bits, and both over a non-zero status.
    package var requestHeaderViolation: HeaderViolation? {
        if flags.contains(.response) { return .responseBitInRequest }
        if !flags.reserved.isEmpty { return .reservedBits(flags.reserved) }
        if status != .ok { return .statusInRequest(status) }
        return nil
    }
}
