internal import CMoatProto
public import MoatCore
public import NIOCore

/// `CheckRequest` is `moat.v1.CheckRequest`; an unknown or UNSPECIFIED operation number decodes to
/// `operation == nil` (the engine answers 400).
extension CheckRequest: WireMessage {
    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        try self.init(wirePayload: payload, reusingToken: "")
    }

    /// Decodes like `init(wirePayload:)`; when the payload's token is byte for byte `last`, the
    /// request's `token` is `last` itself, not a new copy of it. A connection that sends the same
    /// token with every check (one service, one token) then costs no copy of it per check: the
    /// daemon passes the token its connection sent last (docs/performance.md, "Cuts").
    package init(wirePayload payload: ByteBuffer, reusingToken last: String) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__CheckRequest.self, from: payload) {
            CheckRequest(cMessage: $0, reusingToken: last)
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Moat__V1__CheckRequest.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            try fill(message, &arena)
        }
    }

    /// The request `message` holds; its token is `last` when their bytes are the same.
    init(cMessage message: borrowing Moat__V1__CheckRequest, reusingToken last: String = "") {
        self.init(
            vault: CString.string(message.vault),
            operation: Operation(rawValue: Int32(bitPattern: message.operation.rawValue)),
            objectName: CString.string(message.object_name),
            sourceAddress: CString.string(message.source_address),
            subnetId: CString.string(message.subnet_id),
            privateEndpointId: CString.string(message.private_endpoint_id),
            token: CString.string(message.token, reusing: last),
            requestId: CString.string(message.request_id),
            timeoutMicros: message.timeout_micros,
            assertedIdentity: message.asserted_identity.map { AssertedIdentity(cMessage: $0.pointee) }
        )
    }

    func fill(
        _ message: UnsafeMutablePointer<Moat__V1__CheckRequest>,
        _ arena: inout PackingArena
    ) throws(MessageCodingError) {
        try arena.set(&message.pointee.vault, vault, field: "vault")
        message.pointee.operation = Moat__V1__Operation(rawValue: UInt32(bitPattern: operation?.rawValue ?? 0))
        try arena.set(&message.pointee.object_name, objectName, field: "object_name")
        try arena.set(&message.pointee.source_address, sourceAddress, field: "source_address")
        try arena.set(&message.pointee.subnet_id, subnetId, field: "subnet_id")
        try arena.set(&message.pointee.private_endpoint_id, privateEndpointId, field: "private_endpoint_id")
        try arena.set(&message.pointee.token, token, field: "token")
        try arena.set(&message.pointee.request_id, requestId, field: "request_id")
        message.pointee.timeout_micros = timeoutMicros
        if let assertedIdentity {
            let identity = arena.message(Moat__V1__AssertedIdentity.self)
            do throws(MessageCodingError) {
                try assertedIdentity.fill(identity, &arena)
            } catch {
                throw error.nested(in: "asserted_identity")
            }
            message.pointee.asserted_identity = identity
        }
    }

}

extension AssertedIdentity {
    init(cMessage message: borrowing Moat__V1__AssertedIdentity) {
        self.init(
            oid: CString.string(message.oid),
            appid: CString.string(message.appid),
            tid: CString.string(message.tid),
            groups: CString.strings(message.groups, count: message.n_groups),
            xmsMirid: CString.string(message.xms_mirid)
        )
    }

    func fill(
        _ message: UnsafeMutablePointer<Moat__V1__AssertedIdentity>,
        _ arena: inout PackingArena
    ) throws(MessageCodingError) {
        try arena.set(&message.pointee.oid, oid, field: "oid")
        try arena.set(&message.pointee.appid, appid, field: "appid")
        try arena.set(&message.pointee.tid, tid, field: "tid")
        try arena.set(&message.pointee.groups, count: &message.pointee.n_groups, groups, field: "groups")
        try arena.set(&message.pointee.xms_mirid, xmsMirid, field: "xms_mirid")
    }
}
