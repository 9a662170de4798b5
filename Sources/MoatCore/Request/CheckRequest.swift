/// One question to the engine: may this caller, from this network source, do this operation on
/// this vault? Empty strings mean "not given" (as on the wire).
///
/// ```swift
/// let request = CheckRequest(vault: "contoso-prod", operation: .getSecret, sourceAddress: "203.0.113.9", token: jwt)
/// ```
public struct CheckRequest: Sendable, Hashable {
    public var vault: String
    /// `nil` when the request names no operation or one Moat does not know (a 400 decision).
    public var operation: Operation?
    /// The key, secret or certificate the operation targets (object-scoped role assignments).
    public var objectName: String
    /// IPv4 or IPv6 text.
    public var sourceAddress: String
    /// ARM id of the subnet the request came through.
    public var subnetId: String
    /// ARM id of the private endpoint the request came through.
    public var privateEndpointId: String
    /// The raw JWT; a leading "Bearer " is tolerated.
    public var token: String
    /// Correlation id for the decision log.
    public var requestId: String
    /// Relative to the request's arrival; 0 means no deadline. The daemon enforces it.
    public var timeoutMicros: UInt64
    /// Verified claims sent instead of a token by a trusted local peer.
    public var assertedIdentity: AssertedIdentity?

    public init(
        vault: String = "",
        operation: Operation? = nil,
        objectName: String = "",
        sourceAddress: String = "",
        subnetId: String = "",
        privateEndpointId: String = "",
        token: String = "",
        requestId: String = "",
        timeoutMicros: UInt64 = 0,
        assertedIdentity: AssertedIdentity? = nil
    ) {
        self.vault = vault
        self.operation = operation
        self.objectName = objectName
        self.sourceAddress = sourceAddress
        self.subnetId = subnetId
        self.privateEndpointId = privateEndpointId
        self.token = token
        self.requestId = requestId
        self.timeoutMicros = timeoutMicros
        self.assertedIdentity = assertedIdentity
    }
}

/// Claims a trusted local peer (a proxy that already verified the JWT) sends instead of a token.
public struct AssertedIdentity: Sendable, Hashable {
    public var oid: String
    public var appid: String
    public var tid: String
    public var groups: [String]
    public var xmsMirid: String

    public init(oid: String = "", appid: String = "", tid: String = "", groups: [String] = [], xmsMirid: String = "") {
        self.oid = oid
        self.appid = appid
        self.tid = tid
        self.groups = groups
        self.xmsMirid = xmsMirid
    }
}
