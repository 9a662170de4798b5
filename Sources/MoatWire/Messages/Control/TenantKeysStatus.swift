internal import CMoatProto
public import MoatCore
public import NIOCore

/// `moat.v1.TenantKeys`: one tenant's signing keys as `moatd` holds them (`moatctl status`,
/// `moatctl keys list`; docs/running.md, "Signing keys"). Empty strings and zero times travel as
/// absent, and decode as `nil`.
public struct TenantKeysStatus: Sendable, Hashable {
    /// Lower-case GUID.
    public var tenantId: String
    /// `jwksUri https://…`, `openIdConfiguration https://…` or `jwksFile /path`; `nil` when the
    /// document's keys are all there is.
    public var source: String?
    /// The kids that verify tokens (the document's and the source's), sorted.
    public var keyIDs: [String]
    /// `fetched`, `persisted`, `file`, `none` (no set yet) or `document`.
    public var origin: String
    /// When the set was fetched or last confirmed current, Unix ms.
    public var fetchedAtUnixMillis: Int64?
    /// When the next background refresh is due, Unix ms.
    public var nextRefreshUnixMillis: Int64?
    /// The last failed fetch or read.
    public var lastError: String?

    public init(
        tenantId: String,
        source: String? = nil,
        keyIDs: [String] = [],
        origin: String,
        fetchedAtUnixMillis: Int64? = nil,
        nextRefreshUnixMillis: Int64? = nil,
        lastError: String? = nil
    ) {
        self.tenantId = tenantId
        self.source = source
        self.keyIDs = keyIDs
        self.origin = origin
        self.fetchedAtUnixMillis = fetchedAtUnixMillis
        self.nextRefreshUnixMillis = nextRefreshUnixMillis
        self.lastError = lastError
    }

    /// As `moatctl keys list --json`, `moatctl status --json` and `GET /status` show it; `nowMillis`
    /// (Unix milliseconds) is the instant `ageSeconds` is measured at.
    public func json(nowMillis: Int64) -> JSONValue {
        .object([
            ("tenantId", .string(tenantId)),
            ("source", source.map { .string($0) } ?? .null),
            ("origin", .string(origin)),
            ("keyIds", .array(keyIDs.map { .string($0) })),
            ("fetchedAt", fetchedAtUnixMillis.map { .string(Timestamp.iso8601(millis: $0)) } ?? .null),
            ("ageSeconds", fetchedAtUnixMillis.map { .number(String(max(0, nowMillis - $0) / 1000)) } ?? .null),
            ("nextRefresh", nextRefreshUnixMillis.map { .string(Timestamp.iso8601(millis: $0)) } ?? .null),
            ("lastError", lastError.map { .string($0) } ?? .null),
        ])
    }

    init(cMessage message: borrowing Moat__V1__TenantKeys) {
        self.init(
            tenantId: CString.string(message.tenant_id),
            source: CString.optional(message.source),
            keyIDs: CString.strings(message.key_ids, count: message.n_key_ids),
            origin: CString.string(message.origin),
            fetchedAtUnixMillis: message.fetched_at_unix_millis == 0 ? nil : message.fetched_at_unix_millis,
            nextRefreshUnixMillis: message.next_refresh_unix_millis == 0 ? nil : message.next_refresh_unix_millis,
            lastError: CString.optional(message.last_error)
        )
    }

    func fill(
        _ message: UnsafeMutablePointer<Moat__V1__TenantKeys>,
        _ arena: inout PackingArena
    ) throws(MessageCodingError) {
        try arena.set(&message.pointee.tenant_id, tenantId, field: "tenant_id")
        try arena.set(&message.pointee.source, source, field: "source")
        try arena.set(&message.pointee.key_ids, count: &message.pointee.n_key_ids, keyIDs, field: "key_ids")
        try arena.set(&message.pointee.origin, origin, field: "origin")
        message.pointee.fetched_at_unix_millis = fetchedAtUnixMillis ?? 0
        message.pointee.next_refresh_unix_millis = nextRefreshUnixMillis ?? 0
        try arena.set(&message.pointee.last_error, lastError, field: "last_error")
    }

    /// Decodes a repeated `TenantKeys` field.
    static func list(_ items: UnsafeMutablePointer<UnsafeMutablePointer<Moat__V1__TenantKeys>?>?, count: Int) -> [Self]
    {
        guard let items, count > 0 else { return [] }
        return (0..<count).map { TenantKeysStatus(cMessage: items[$0]!.pointee) }
    }

    /// Encodes a repeated `TenantKeys` field; `nil` for an empty list.
    static func fill(
        _ list: [Self],
        _ arena: inout PackingArena
    ) throws(MessageCodingError) -> UnsafeMutablePointer<UnsafeMutablePointer<Moat__V1__TenantKeys>?>? {
        guard !list.isEmpty else { return nil }
        let items = arena.pointers(to: Moat__V1__TenantKeys.self, count: list.count)
        for (index, tenant) in list.enumerated() {
            let item = arena.message(Moat__V1__TenantKeys.self)
            try tenant.fill(item, &arena)
            items[index] = item
        }
        return items
    }
}

/// `moat.v1.KeysListRequest` (KeysList, method 23): asks for every tenant's signing keys.
public struct KeysListRequest: WireMessage, Hashable {
    public init() {}

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__KeysListRequest.self, from: payload) { _ in KeysListRequest() }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        ProtobufCCodec.encode(Moat__V1__KeysListRequest.self, into: &buffer) { _, _ in }
    }
}

/// `moat.v1.KeysRefreshRequest` (KeysRefresh, method 24): refreshes one tenant's key set now, or
/// every tenant's with a key source (`tenantId` nil); answered when the fetches are done.
public struct KeysRefreshRequest: WireMessage, Hashable {
    public var tenantId: String?

    public init(tenantId: String? = nil) {
        self.tenantId = tenantId
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__KeysRefreshRequest.self, from: payload) { message in
            KeysRefreshRequest(tenantId: CString.optional(message.tenant_id))
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Moat__V1__KeysRefreshRequest.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            try arena.set(&message.pointee.tenant_id, tenantId, field: "tenant_id")
        }
    }
}

/// `moat.v1.KeysResponse`: the tenants listed (KeysList) or refreshed (KeysRefresh).
public struct KeysResponse: WireMessage, Hashable {
    public var tenants: [TenantKeysStatus]

    public init(tenants: [TenantKeysStatus]) {
        self.tenants = tenants
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__KeysResponse.self, from: payload) { message in
            KeysResponse(tenants: TenantKeysStatus.list(message.tenants, count: message.n_tenants))
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Moat__V1__KeysResponse.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            message.pointee.tenants = try TenantKeysStatus.fill(tenants, &arena)
            message.pointee.n_tenants = tenants.count
        }
    }
}
