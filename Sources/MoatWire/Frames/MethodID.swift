/// A frame's method id: one number space for both sockets (`docs/protocol.md`).
///
/// Any byte can arrive; `socket` is `nil` for an id Moat does not define (answered UNIMPLEMENTED).
package struct MethodID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    package var rawValue: UInt8

    package init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// `CheckRequest` → `CheckResponse` (`Decision`).
    package static let check = MethodID(rawValue: 1)
    /// `CheckBatchRequest` → `CheckBatchResponse`, at most 1024 requests, answers in order.
    package static let checkBatch = MethodID(rawValue: 2)
    /// `Ping` → `Pong`.
    package static let ping = MethodID(rawValue: 3)
    package static let putDocument = MethodID(rawValue: 16)
    package static let applyChange = MethodID(rawValue: 17)
    package static let getDocument = MethodID(rawValue: 18)
    package static let status = MethodID(rawValue: 19)
    package static let rollback = MethodID(rawValue: 20)
    package static let reload = MethodID(rawValue: 21)
    package static let metrics = MethodID(rawValue: 22)
    package static let keysList = MethodID(rawValue: 23)
    package static let keysRefresh = MethodID(rawValue: 24)
    /// The etcd source's fleet (docs/etcd.md, "Fleet").
    package static let fleetStatus = MethodID(rawValue: 25)
    /// Shadow rule sets (docs/protocol.md, "Shadow rule sets").
    package static let shadowPush = MethodID(rawValue: 26)
    package static let shadowReport = MethodID(rawValue: 27)
    package static let shadowPromote = MethodID(rawValue: 28)
    package static let shadowDrop = MethodID(rawValue: 29)

    /// Every method Moat defines, in id order.
    package static let allKnown: [MethodID] = [
        .check, .checkBatch, .ping,
        .putDocument, .applyChange, .getDocument, .status, .rollback, .reload, .metrics, .keysList, .keysRefresh,
        .fleetStatus, .shadowPush, .shadowReport, .shadowPromote, .shadowDrop,
    ]

    /// The socket that answers this method; `nil` for an unknown id.
    package var socket: SocketKind? {
        switch rawValue {
        case 1...3: .data
        case 16...29: .control
        default: nil
        }
    }

    /// The method's name as in the proto service, "CheckBatch"; `nil` for an unknown id.
    package var name: String? {
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
        case 23: "KeysList"
        case 24: "KeysRefresh"
        case 25: "FleetStatus"
        case 26: "ShadowPush"
        case 27: "ShadowReport"
        case 28: "ShadowPromote"
        case 29: "ShadowDrop"
        default: nil
        }
    }

    package var description: String { name ?? "method \(rawValue)" }
}
