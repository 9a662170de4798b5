public import MoatWire

/// Why a call to the daemon got no answer (or an error answer). For checks this is "could not
/// decide": `MoatClient` turns it into a deny, or into an allow under `FailurePolicy.open` only
/// when ``fault`` is ``Fault/availability``.
public struct MoatClientError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case unreachable
            case deadlineExceeded
            case connectionClosed
            case status
            case protocolViolation
            case requestRefused
        }

        private let value: Value

        /// The socket could not be connected to (no daemon, wrong path, permissions).
        public static let unreachable = Code(value: .unreachable)
        /// No answer within the call's deadline.
        public static let deadlineExceeded = Code(value: .deadlineExceeded)
        /// The connection closed before the answer arrived.
        public static let connectionClosed = Code(value: .connectionClosed)
        /// The daemon answered with a non-zero status; see `status` and `details`.
        public static let status = Code(value: .status)
        /// The daemon's answer could not be read (a frame or message that does not decode).
        public static let protocolViolation = Code(value: .protocolViolation)
        /// The client refused to send the request: it cannot be encoded (INVALID_ARGUMENT, e.g. a
        /// string holding a NUL byte), or its frame is over the daemon's limit
        /// (RESOURCE_EXHAUSTED, `Configuration.maximumRequestFrameLength`), which would make the
        /// daemon close the connection shared with other calls.
        public static let requestRefused = Code(value: .requestRefused)

        public var description: String {
            switch value {
            case .unreachable: "unreachable"
            case .deadlineExceeded: "deadline exceeded"
            case .connectionClosed: "connection closed"
            case .status: "status"
            case .protocolViolation: "protocol violation"
            case .requestRefused: "request refused"
            }
        }
    }

    /// Whose failure it was; it decides whether `FailurePolicy.open` may turn it into an allow.
    public enum Fault: Sendable, Hashable {
        /// The daemon was not available: unreachable, the connection closed, no answer within the
        /// deadline, or an UNAVAILABLE or DEADLINE_EXCEEDED answer. The failure policy applies.
        case availability
        /// The request was at fault: the client could not send it (``Code/requestRefused``), or the
        /// daemon refused it (INVALID_ARGUMENT, RESOURCE_EXHAUSTED). Always a deny.
        case request
        /// The daemon failed or refused the caller: INTERNAL, UNIMPLEMENTED, PERMISSION_DENIED,
        /// any other status, or an answer that could not be read. Always a deny.
        case daemon
    }

    public var code: Code
    public var message: String
    /// The daemon's status when `code` is `.status`; UNAVAILABLE for an unreachable daemon and
    /// DEADLINE_EXCEEDED for a timeout, so callers can report one status name. For
    /// `.requestRefused`, INVALID_ARGUMENT or RESOURCE_EXHAUSTED.
    public var status: StatusCode
    /// Validation errors of a refused document or change.
    public var details: [StatusError.Detail]
    /// The error that caused this one, when there is one (a connect error, a `MessageCodingError`,
    /// a `FrameError`, the daemon's `StatusError`). Not part of equality.
    public var underlyingError: (any Error)?

    public init(
        code: Code,
        message: String,
        status: StatusCode,
        details: [StatusError.Detail] = [],
        underlyingError: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.status = status
        self.details = details
        self.underlyingError = underlyingError
    }

    init(_ error: StatusError) {
        self.init(
            code: .status,
            message: error.message,
            status: error.code,
            details: error.details,
            underlyingError: error
        )
    }

    /// Whose failure it was (see ``Fault``).
    public var fault: Fault {
        if code == .unreachable || code == .deadlineExceeded || code == .connectionClosed { return .availability }
        if code == .requestRefused { return .request }
        guard code == .status else { return .daemon }
        switch status {
        case .unavailable, .deadlineExceeded: return .availability
        case .invalidArgument, .resourceExhausted: return .request
        default: return .daemon
        }
    }

    public var description: String { message }

    public static func == (lhs: MoatClientError, rhs: MoatClientError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.status == rhs.status && lhs.details == rhs.details
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(status)
        hasher.combine(details)
    }

    /// An answer that does not decode (a frame or message), with the decoder's error.
    static func unreadableAnswer(_ error: any Error) -> MoatClientError {
        MoatClientError(
            code: .protocolViolation,
            message: "unreadable answer: \(error)",
            status: .internalError,
            underlyingError: error
        )
    }

    /// A request the client cannot encode (a string holding a NUL byte), refused without sending.
    static func unencodable(_ error: MessageCodingError) -> MoatClientError {
        MoatClientError(
            code: .requestRefused,
            message: "cannot encode the request: \(error.message)",
            status: .invalidArgument,
            underlyingError: error
        )
    }

    static let connectionClosed = MoatClientError(
        code: .connectionClosed,
        message: "the connection is closed",
        status: .unavailable
    )
}
