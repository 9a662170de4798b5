public import MoatWire

/// Why a call to the daemon got no answer (or an error answer). For checks this is "could not
/// decide": `MoatClient` turns it into the configured failure policy.
public struct MoatClientError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case unreachable
            case deadlineExceeded
            case connectionClosed
            case status
            case protocolViolation
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

        public var description: String {
            switch value {
            case .unreachable: "unreachable"
            case .deadlineExceeded: "deadline exceeded"
            case .connectionClosed: "connection closed"
            case .status: "status"
            case .protocolViolation: "protocol violation"
            }
        }
    }

    public var code: Code
    public var message: String
    /// The daemon's status when `code` is `.status`; UNAVAILABLE for an unreachable daemon and
    /// DEADLINE_EXCEEDED for a timeout, so callers can report one status name.
    public var status: StatusCode
    /// Validation errors of a refused document or change.
    public var details: [StatusError.Detail]

    public init(code: Code, message: String, status: StatusCode, details: [StatusError.Detail] = []) {
        self.code = code
        self.message = message
        self.status = status
        self.details = details
    }

    init(_ error: StatusError) {
        self.init(code: .status, message: error.message, status: error.code, details: error.details)
    }

    public var description: String { message }

    /// An answer that does not decode (a frame or message), with the decoder's reason.
    static func unreadableAnswer(_ reason: String) -> MoatClientError {
        MoatClientError(code: .protocolViolation, message: "unreadable answer: \(reason)", status: .internalError)
    }

    static let connectionClosed = MoatClientError(
        code: .connectionClosed,
        message: "the connection is closed",
        status: .unavailable
    )
}
