internal import CMoatProto
public import NIOCore

/// `moat.v1.Error`: the payload of every frame whose status is not OK, on both sockets. The call
/// could not be decided or carried out; `details` lists every problem of a rejected document or
/// change, each with its JSON path.
///
/// ```swift
/// throw StatusError(code: .unavailable, message: "no rules loaded")
/// ```
public struct StatusError: Error, WireMessage, Hashable, CustomStringConvertible {
    /// One problem of a rejected document or change.
    public struct Detail: Hashable, Sendable {
        /// JSON path of the offending value, e.g. `vaults[0].properties.networkAcls.ipRules[3].value`,
        /// or `$` for the document as a whole.
        public var path: String
        public var message: String

        public init(path: String, message: String) {
            self.path = path
            self.message = message
        }
    }

    /// The same code as the frame's status.
    public var code: StatusCode
    public var message: String
    public var details: [Detail]

    public init(code: StatusCode, message: String, details: [Detail] = []) {
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String {
        var text = "\(code): \(message)"
        for detail in details {
            text += "\n\(detail.path): \(detail.message)"
        }
        return text
    }

    /// The most UTF-8 bytes the message and each detail's path and message carry on the wire
    /// (docs/protocol.md); longer ones are cut and end with "…".
    public static let maximumWireStringBytes = 4096

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__Error.self, from: payload) { message throws(MessageCodingError) in
            try StatusError(cMessage: message)
        }
    }

    init(cMessage message: borrowing Moat__V1__Error) throws(MessageCodingError) {
        guard let code = UInt16(exactly: message.code) else {
            throw .invalidValue(field: "code", "holds \(message.code), not a status code")
        }
        var details: [Detail] = []
        if let items = message.details, message.n_details > 0 {
            details = (0..<message.n_details).map { index in
                Detail(
                    path: CString.string(items[index]!.pointee.path),
                    message: CString.string(items[index]!.pointee.message)
                )
            }
        }
        self.init(code: StatusCode(rawValue: code), message: CString.string(message.message), details: details)
    }

    /// Encoding never fails: a NUL byte (say, in a rejected document's value echoed by a detail) is
    /// replaced and long strings are cut (`maximumWireStringBytes`; see `PackingArena.setPackable`).
    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        ProtobufCCodec.encode(Moat__V1__Error.self, into: &buffer) { message, arena in
            fill(message, &arena)
        }
    }

    func fill(_ message: UnsafeMutablePointer<Moat__V1__Error>, _ arena: inout PackingArena) {
        let limit = Self.maximumWireStringBytes
        message.pointee.code = UInt32(code.rawValue)
        arena.setPackable(&message.pointee.message, self.message, limit: limit)
        guard !details.isEmpty else { return }
        let items = arena.pointers(to: Moat__V1__ErrorDetail.self, count: details.count)
        for (index, detail) in details.enumerated() {
            let item = arena.message(Moat__V1__ErrorDetail.self)
            arena.setPackable(&item.pointee.path, detail.path, limit: limit)
            arena.setPackable(&item.pointee.message, detail.message, limit: limit)
            items[index] = item
        }
        message.pointee.n_details = details.count
        message.pointee.details = items
    }
}
