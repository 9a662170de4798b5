/// A frame's method id: one number space for both sockets (`docs/protocol.md`).
///
/// Any byte can arrive; `socket` is `nil` for an id Moat does not define (answered UNIMPLEMENTED).
public struct MethodID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// `CheckRequest` → `CheckResponse` (`Decision`).
    public static let check = MethodID(rawValue: 1)
    /// `CheckBatchRequest` → `CheckBatchResponse`, at most 1024 requests, answers in order.
    public static let checkBatch = MethodID(rawValue: 2)
    /// `Ping` → `Pong`.
    public static let ping = MethodID(rawValue: 3)
    public static let putDocument = MethodID(rawValue: 16)
    public static let applyChange = MethodID(rawValue: 17)
    public static let getDocument = MethodID(rawValue: 18)
    public static let status = MethodID(rawValue: 19)
    public static let rollback = MethodID(rawValue: 20)
    public static let reload = MethodID(rawValue: 21)
    public static let metrics = MethodID(rawValue: 22)

    /// Every method Moat defines, in id order.
    public static let allKnown: [MethodID] = [
        .check, .checkBatch, .ping,
        .putDocument, .applyChange, .getDocument, .status, .rollback, .reload, .metrics,
    ]

    /// The socket that answers this method; `nil` for an unknown id.
    public var socket: SocketKind? {
        switch rawValue {
        case 1...3: .data
        case 16...22: .control
        default: nil
        }
    }

    /// The method's name as in the proto service, "CheckBatch"; `nil` for an unknown id.
    public var name: String? {
        switch rawValue {
        case 1: "Check"
        case 2: "CheckBatch"
        case 3: "Ping"
        case 16: "PutDocument"
        case 17: "ApplyChange"
        case 18: "GetDocument"
        case 19: "Status"
        case 20: "Rollback"
        case 21: "Reload"
        case 22: "Metrics"
        default: nil
        }
    }

    public var description: String { name ?? "method \(rawValue)" }
}
