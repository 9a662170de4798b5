internal import CMoatProto
package import NIOCore

// etcd's v3 API messages that Moat's etcd client sends and reads (proto/etcd; docs/etcd.md), as
// Swift values encoded and decoded with protobuf-c. Keys and values are bytes, as in etcd.

/// A request message: appends its encoding to a buffer.
package protocol EtcdRequest: Sendable {
    func encode(into buffer: inout ByteBuffer) throws(MessageCodingError)
}

/// A response message: read from its encoding; throws when the bytes are not one.
package protocol EtcdResponse: Sendable {
    init(wirePayload: ByteBuffer) throws(MessageCodingError)
}

/// `mvccpb.KeyValue`.
package struct EtcdKeyValue: Sendable, Hashable {
    package var key: [UInt8]
    package var value: [UInt8]
    package var createRevision: Int64
    package var modRevision: Int64
    package var version: Int64
    package var lease: Int64

    init(_ kv: borrowing Mvccpb__KeyValue) {
        key = CBytes.array(kv.key)
        value = CBytes.array(kv.value)
        createRevision = kv.create_revision
        modRevision = kv.mod_revision
        version = kv.version
        lease = kv.lease
    }

    static func list(_ items: UnsafeMutablePointer<UnsafeMutablePointer<Mvccpb__KeyValue>?>?, count: Int) -> [Self] {
        guard let items else { return [] }
        return (0..<count).compactMap { items[$0].map { Self($0.pointee) } }
    }
}

/// `mvccpb.Event`: a put (the key's new value) or a delete (`kv.modRevision` is the deletion's).
package struct EtcdEvent: Sendable, Hashable {
    package enum Kind: Sendable, Hashable {
        case put
        case delete
    }

    package var kind: Kind
    package var kv: EtcdKeyValue
}

private func headerRevision(_ header: UnsafeMutablePointer<Etcdserverpb__ResponseHeader>?) -> Int64 {
    header?.pointee.revision ?? 0
}

// MARK: - KV

/// `RangeRequest`: `key` alone, or the keys in [key, rangeEnd) (`EtcdKeys.prefixEnd` for a prefix).
package struct EtcdRangeRequest: EtcdRequest, Hashable {
    package var key: [UInt8]
    package var rangeEnd: [UInt8]
    /// At most this many keys; 0 is no limit.
    package var limit: Int64
    package var keysOnly: Bool

    package init(key: [UInt8], rangeEnd: [UInt8] = [], limit: Int64 = 0, keysOnly: Bool = false) {
        self.key = key
        self.rangeEnd = rangeEnd
        self.limit = limit
        self.keysOnly = keysOnly
    }

    fileprivate func fill(_ message: UnsafeMutablePointer<Etcdserverpb__RangeRequest>, _ arena: inout PackingArena) {
        arena.set(&message.pointee.key, key)
        arena.set(&message.pointee.range_end, rangeEnd)
        message.pointee.limit = limit
        message.pointee.keys_only = keysOnly ? 1 : 0
    }

    package func encode(into buffer: inout ByteBuffer) {
        ProtobufCCodec.encode(Etcdserverpb__RangeRequest.self, into: &buffer) { message, arena in
            fill(message, &arena)
        }
    }
}

/// `RangeResponse`.
package struct EtcdRangeResponse: EtcdResponse, Hashable {
    /// The store's revision when the range was read.
    package var revision: Int64
    package var kvs: [EtcdKeyValue]
    /// Whether the range held more keys than `limit`.
    package var more: Bool

    init(_ message: borrowing Etcdserverpb__RangeResponse) {
        revision = headerRevision(message.header)
        kvs = EtcdKeyValue.list(message.kvs, count: message.n_kvs)
        more = message.more != 0
    }

    package init(wirePayload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Etcdserverpb__RangeResponse.self, from: wirePayload) { Self($0) }
    }
}

/// `PutRequest`.
package struct EtcdPutRequest: EtcdRequest, Hashable {
    package var key: [UInt8]
    package var value: [UInt8]
    /// The lease the key is attached to (deleted when it expires); 0 for none.
    package var lease: Int64

    package init(key: [UInt8], value: [UInt8], lease: Int64 = 0) {
        self.key = key
        self.value = value
        self.lease = lease
    }

    fileprivate func fill(_ message: UnsafeMutablePointer<Etcdserverpb__PutRequest>, _ arena: inout PackingArena) {
        arena.set(&message.pointee.key, key)
        arena.set(&message.pointee.value, value)
        message.pointee.lease = lease
    }

    package func encode(into buffer: inout ByteBuffer) {
        ProtobufCCodec.encode(Etcdserverpb__PutRequest.self, into: &buffer) { message, arena in
            fill(message, &arena)
        }
    }
}

/// `PutResponse`: the store's revision after the put.
package struct EtcdPutResponse: EtcdResponse, Hashable {
    package var revision: Int64

    package init(wirePayload: ByteBuffer) throws(MessageCodingError) {
        revision = try ProtobufCCodec.decode(Etcdserverpb__PutResponse.self, from: wirePayload) {
            headerRevision($0.header)
        }
    }
}

/// `DeleteRangeRequest`: `key` alone, or the keys in [key, rangeEnd).
package struct EtcdDeleteRequest: Sendable, Hashable {
    package var key: [UInt8]
    package var rangeEnd: [UInt8]

    package init(key: [UInt8], rangeEnd: [UInt8] = []) {
        self.key = key
        self.rangeEnd = rangeEnd
    }
}

/// `Compare`: one condition of a transaction on one key. A key that does not exist has version,
/// create and mod revision 0.
package struct EtcdCompare: Sendable, Hashable {
    package enum Target: Sendable, Hashable {
        case version(Int64)
        case createRevision(Int64)
        case modRevision(Int64)
        case value([UInt8])
    }

    package enum Result: Sendable, Hashable {
        case equal
        case notEqual
        case greater
        case less
    }

    package var key: [UInt8]
    package var target: Target
    package var result: Result

    package init(key: [UInt8], _ target: Target, _ result: Result = .equal) {
        self.key = key
        self.target = target
        self.result = result
    }
}

/// `RequestOp`: one operation of a transaction.
package enum EtcdOperation: Sendable, Hashable {
    case range(EtcdRangeRequest)
    case put(EtcdPutRequest)
    case delete(EtcdDeleteRequest)
}

/// `TxnRequest`: if every comparison holds, `success`, else `failure`, atomically.
package struct EtcdTxnRequest: EtcdRequest, Hashable {
    package var compare: [EtcdCompare]
    package var success: [EtcdOperation]
    package var failure: [EtcdOperation]

    package init(compare: [EtcdCompare], success: [EtcdOperation], failure: [EtcdOperation] = []) {
        self.compare = compare
        self.success = success
        self.failure = failure
    }

    package func encode(into buffer: inout ByteBuffer) {
        ProtobufCCodec.encode(Etcdserverpb__TxnRequest.self, into: &buffer) { message, arena in
            let compares = arena.pointers(to: Etcdserverpb__Compare.self, count: compare.count)
            for (index, condition) in compare.enumerated() {
                compares[index] = Self.compare(condition, &arena)
            }
            message.pointee.n_compare = compare.count
            message.pointee.compare = compares
            message.pointee.n_success = success.count
            message.pointee.success = Self.operations(success, &arena)
            message.pointee.n_failure = failure.count
            message.pointee.failure = Self.operations(failure, &arena)
        }
    }

    private static func compare(
        _ condition: EtcdCompare,
        _ arena: inout PackingArena
    ) -> UnsafeMutablePointer<Etcdserverpb__Compare> {
        let message = arena.message(Etcdserverpb__Compare.self)
        arena.set(&message.pointee.key, condition.key)
        message.pointee.result =
            switch condition.result {
            case .equal: ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL
            case .notEqual: ETCDSERVERPB__COMPARE__COMPARE_RESULT__NOT_EQUAL
            case .greater: ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER
            case .less: ETCDSERVERPB__COMPARE__COMPARE_RESULT__LESS
            }
        switch condition.target {
        case .version(let version):
            message.pointee.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION
            message.pointee.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION
            message.pointee.version = version
        case .createRevision(let revision):
            message.pointee.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE
            message.pointee.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION
            message.pointee.create_revision = revision
        case .modRevision(let revision):
            message.pointee.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD
            message.pointee.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION
            message.pointee.mod_revision = revision
        case .value(let value):
            message.pointee.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE
            message.pointee.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE
            // A oneof field is packed when its case is set, so an empty value is compared too.
            arena.set(&message.pointee.value, value)
        }
        return message
    }

    private static func operations(
        _ operations: [EtcdOperation],
        _ arena: inout PackingArena
    ) -> UnsafeMutablePointer<UnsafeMutablePointer<Etcdserverpb__RequestOp>?> {
        let list = arena.pointers(to: Etcdserverpb__RequestOp.self, count: operations.count)
        for (index, operation) in operations.enumerated() {
            let op = arena.message(Etcdserverpb__RequestOp.self)
            switch operation {
            case .range(let range):
                let request = arena.message(Etcdserverpb__RangeRequest.self)
                range.fill(request, &arena)
                op.pointee.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE
                op.pointee.request_range = request
            case .put(let put):
                let request = arena.message(Etcdserverpb__PutRequest.self)
                put.fill(request, &arena)
                op.pointee.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT
                op.pointee.request_put = request
            case .delete(let delete):
                let request = arena.message(Etcdserverpb__DeleteRangeRequest.self)
                arena.set(&request.pointee.key, delete.key)
                arena.set(&request.pointee.range_end, delete.rangeEnd)
                op.pointee.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE
                op.pointee.request_delete_range = request
            }
            list[index] = op
        }
        return list
    }
}

/// `TxnResponse`: whether the comparisons held, the store's revision after it, and what the
/// range operations of the branch taken read (one entry per range operation, in order).
package struct EtcdTxnResponse: EtcdResponse, Hashable {
    package var succeeded: Bool
    package var revision: Int64
    package var ranges: [EtcdRangeResponse]

    package init(wirePayload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Etcdserverpb__TxnResponse.self, from: wirePayload) { message in
            var ranges: [EtcdRangeResponse] = []
            if let responses = message.responses {
                for index in 0..<message.n_responses {
                    guard let op = responses[index],
                        op.pointee.response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE,
                        let range = op.pointee.response_range
                    else { continue }
                    ranges.append(EtcdRangeResponse(range.pointee))
                }
            }
            return Self(succeeded: message.succeeded != 0, revision: headerRevision(message.header), ranges: ranges)
        }
    }

    private init(succeeded: Bool, revision: Int64, ranges: [EtcdRangeResponse]) {
        self.succeeded = succeeded
        self.revision = revision
        self.ranges = ranges
    }
}

// MARK: - Watch

/// `WatchRequest`: create a watch, or ask for a progress notification.
package enum EtcdWatchRequest: EtcdRequest, Hashable {
    /// Watches [key, rangeEnd) from `startRevision` (inclusive), with the server's periodic
    /// progress notifications.
    case create(key: [UInt8], rangeEnd: [UInt8], startRevision: Int64)
    /// Asks for a progress notification now (etcd 3.4 and later).
    case progress

    package func encode(into buffer: inout ByteBuffer) {
        ProtobufCCodec.encode(Etcdserverpb__WatchRequest.self, into: &buffer) { message, arena in
            switch self {
            case .create(let key, let rangeEnd, let startRevision):
                let create = arena.message(Etcdserverpb__WatchCreateRequest.self)
                arena.set(&create.pointee.key, key)
                arena.set(&create.pointee.range_end, rangeEnd)
                create.pointee.start_revision = startRevision
                create.pointee.progress_notify = 1
                message.pointee.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST
                message.pointee.create_request = create
            case .progress:
                message.pointee.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST
                message.pointee.progress_request = arena.message(Etcdserverpb__WatchProgressRequest.self)
            }
        }
    }
}

/// `WatchResponse`: the watch created, events, a progress notification (no events: every later
/// event has a higher revision than `revision`), or the watch canceled (`compactRevision` set
/// when its start revision was compacted).
package struct EtcdWatchResponse: EtcdResponse, Hashable {
    package var revision: Int64
    package var watchID: Int64
    package var created: Bool
    package var canceled: Bool
    package var compactRevision: Int64
    package var cancelReason: String
    package var events: [EtcdEvent]

    package init(wirePayload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Etcdserverpb__WatchResponse.self, from: wirePayload) { message in
            var events: [EtcdEvent] = []
            if let list = message.events {
                for index in 0..<message.n_events {
                    guard let event = list[index], let kv = event.pointee.kv else { continue }
                    events.append(
                        EtcdEvent(
                            kind: event.pointee.type == MVCCPB__EVENT__EVENT_TYPE__DELETE ? .delete : .put,
                            kv: EtcdKeyValue(kv.pointee)
                        )
                    )
                }
            }
            return Self(
                revision: headerRevision(message.header),
                watchID: message.watch_id,
                created: message.created != 0,
                canceled: message.canceled != 0,
                compactRevision: message.compact_revision,
                cancelReason: CString.string(message.cancel_reason),
                events: events
            )
        }
    }

    private init(
        revision: Int64,
        watchID: Int64,
        created: Bool,
        canceled: Bool,
        compactRevision: Int64,
        cancelReason: String,
        events: [EtcdEvent]
    ) {
        self.revision = revision
        self.watchID = watchID
        self.created = created
        self.canceled = canceled
        self.compactRevision = compactRevision
        self.cancelReason = cancelReason
        self.events = events
    }
}

// MARK: - Lease

/// `LeaseGrantRequest`: a lease of `ttl` seconds, its ID chosen by etcd.
package struct EtcdLeaseGrantRequest: EtcdRequest, Hashable {
    package var ttl: Int64

    package init(ttl: Int64) { self.ttl = ttl }

    package func encode(into buffer: inout ByteBuffer) {
        ProtobufCCodec.encode(Etcdserverpb__LeaseGrantRequest.self, into: &buffer) { message, _ in
            message.pointee.ttl = ttl
        }
    }
}

/// `LeaseGrantResponse`.
package struct EtcdLeaseGrantResponse: EtcdResponse, Hashable {
    package var id: Int64
    package var ttl: Int64
    package var error: String

    package init(wirePayload: ByteBuffer) throws(MessageCodingError) {
        let read = try ProtobufCCodec.decode(Etcdserverpb__LeaseGrantResponse.self, from: wirePayload) {
            ($0.id, $0.ttl, CString.string($0.error))
        }
        id = read.0
        ttl = read.1
        error = read.2
    }
}

/// `LeaseRevokeRequest` and `LeaseKeepAliveRequest`, which both name one lease.
package struct EtcdLeaseRequest: EtcdRequest, Hashable {
    package enum Kind: Sendable, Hashable {
        case revoke
        case keepAlive
    }

    package var kind: Kind
    package var id: Int64

    package init(_ kind: Kind, id: Int64) {
        self.kind = kind
        self.id = id
    }

    package func encode(into buffer: inout ByteBuffer) {
        switch kind {
        case .revoke:
            ProtobufCCodec.encode(Etcdserverpb__LeaseRevokeRequest.self, into: &buffer) { message, _ in
                message.pointee.id = id
            }
        case .keepAlive:
            ProtobufCCodec.encode(Etcdserverpb__LeaseKeepAliveRequest.self, into: &buffer) { message, _ in
                message.pointee.id = id
            }
        }
    }
}

/// `LeaseRevokeResponse`: nothing Moat reads but that it is one.
package struct EtcdLeaseRevokeResponse: EtcdResponse, Hashable {
    package init(wirePayload: ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.decode(Etcdserverpb__LeaseRevokeResponse.self, from: wirePayload) { _ in }
    }
}

/// `LeaseKeepAliveResponse`: the lease's new time to live; 0 or less when it has expired.
package struct EtcdLeaseKeepAliveResponse: EtcdResponse, Hashable {
    package var id: Int64
    package var ttl: Int64

    package init(wirePayload: ByteBuffer) throws(MessageCodingError) {
        let read = try ProtobufCCodec.decode(Etcdserverpb__LeaseKeepAliveResponse.self, from: wirePayload) {
            ($0.id, $0.ttl)
        }
        id = read.0
        ttl = read.1
    }
}

// MARK: - Auth

/// `AuthenticateRequest`: a user name and password, for a token.
package struct EtcdAuthenticateRequest: EtcdRequest, Hashable {
    package var name: String
    package var password: String

    package init(name: String, password: String) {
        self.name = name
        self.password = password
    }

    package func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Etcdserverpb__AuthenticateRequest.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            try arena.set(&message.pointee.name, name, field: "name")
            try arena.set(&message.pointee.password, password, field: "password")
        }
    }
}

/// `AuthenticateResponse`: the token later calls carry in their `token` metadata.
package struct EtcdAuthenticateResponse: EtcdResponse, Hashable {
    package var token: String

    package init(wirePayload: ByteBuffer) throws(MessageCodingError) {
        token = try ProtobufCCodec.decode(Etcdserverpb__AuthenticateResponse.self, from: wirePayload) {
            CString.string($0.token)
        }
    }
}

// MARK: - protoc-c messages

extension Etcdserverpb__RangeRequest: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_range_request_descriptor() }
}

extension Etcdserverpb__RangeResponse: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_range_response_descriptor() }
}

extension Etcdserverpb__PutRequest: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_put_request_descriptor() }
}

extension Etcdserverpb__PutResponse: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_put_response_descriptor() }
}

extension Etcdserverpb__DeleteRangeRequest: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_delete_range_request_descriptor() }
}

extension Etcdserverpb__RequestOp: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_request_op_descriptor() }
}

extension Etcdserverpb__Compare: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_compare_descriptor() }
}

extension Etcdserverpb__TxnRequest: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_txn_request_descriptor() }
}

extension Etcdserverpb__TxnResponse: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_txn_response_descriptor() }
}

extension Etcdserverpb__WatchRequest: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_watch_request_descriptor() }
}

extension Etcdserverpb__WatchCreateRequest: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_watch_create_request_descriptor() }
}

extension Etcdserverpb__WatchProgressRequest: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_watch_progress_request_descriptor() }
}

extension Etcdserverpb__WatchResponse: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_watch_response_descriptor() }
}

extension Etcdserverpb__LeaseGrantRequest: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_lease_grant_request_descriptor() }
}

extension Etcdserverpb__LeaseGrantResponse: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_lease_grant_response_descriptor() }
}

extension Etcdserverpb__LeaseRevokeRequest: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_lease_revoke_request_descriptor() }
}

extension Etcdserverpb__LeaseRevokeResponse: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_lease_revoke_response_descriptor() }
}

extension Etcdserverpb__LeaseKeepAliveRequest: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        cmoat_etcd_lease_keep_alive_request_descriptor()
    }
}

extension Etcdserverpb__LeaseKeepAliveResponse: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        cmoat_etcd_lease_keep_alive_response_descriptor()
    }
}

extension Etcdserverpb__AuthenticateRequest: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_authenticate_request_descriptor() }
}

extension Etcdserverpb__AuthenticateResponse: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_etcd_authenticate_response_descriptor() }
}
