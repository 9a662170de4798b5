/// A frame's status: a gRPC canonical status code (`docs/protocol.md`).
///
/// Any 16-bit value can arrive; the named ones are those Moat uses.
public struct StatusCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// A decision was made (allow or deny), or a control call succeeded.
    public static let ok = StatusCode(rawValue: 0)
    /// The payload does not decode, reserved flag bits are set, or a string is not clean UTF-8.
    public static let invalidArgument = StatusCode(rawValue: 3)
    /// The request's timeout passed before it was evaluated.
    public static let deadlineExceeded = StatusCode(rawValue: 4)
    /// A change names a vault, rule or policy that does not exist; a rollback to a revision not kept.
    public static let notFound = StatusCode(rawValue: 5)
    /// The peer's uid or gid is not allowed on this socket.
    public static let permissionDenied = StatusCode(rawValue: 7)
    /// A frame over the size limit; a batch of more than 1024 checks.
    public static let resourceExhausted = StatusCode(rawValue: 8)
    /// The rules file is read-only or managed elsewhere.
    public static let failedPrecondition = StatusCode(rawValue: 9)
    /// The expected revision is not the current one.
    public static let aborted = StatusCode(rawValue: 10)
    /// An unknown method id, or a method sent to the other socket.
    public static let unimplemented = StatusCode(rawValue: 12)
    /// A bug; never expected.
    public static let internalError = StatusCode(rawValue: 13)
    /// No valid rules loaded yet, the daemon is draining, or the connection limit was reached.
    public static let unavailable = StatusCode(rawValue: 14)

    /// The canonical name, "UNAVAILABLE"; `STATUS_<n>` for a number gRPC does not define.
    public var name: String {
        switch rawValue {
        case 0: "OK"
        case 1: "CANCELLED"
        case 2: "UNKNOWN"
        case 3: "INVALID_ARGUMENT"
        case 4: "DEADLINE_EXCEEDED"
        case 5: "NOT_FOUND"
        case 6: "ALREADY_EXISTS"
        case 7: "PERMISSION_DENIED"
        case 8: "RESOURCE_EXHAUSTED"
        case 9: "FAILED_PRECONDITION"
        case 10: "ABORTED"
        case 11: "OUT_OF_RANGE"
        case 12: "UNIMPLEMENTED"
        case 13: "INTERNAL"
        case 14: "UNAVAILABLE"
        case 15: "DATA_LOSS"
        case 16: "UNAUTHENTICATED"
        default: "STATUS_\(rawValue)"
        }
    }

    public var description: String { name }
}
