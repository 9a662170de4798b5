internal import CMoatProto
public import MoatCore
public import NIOCore

/// `Decision` is `moat.v1.CheckResponse`.
///
/// Decoding refuses, rather than guesses:
/// - a decision that is `DECISION_UNSPECIFIED` or unknown (`.noDecision`: could not decide);
/// - a missing or unknown code or stage, an unknown inner code, admission or grant kind, or mode;
/// - an `http_status` other than the code's, an allow whose code is not OK, a deny whose code is.
///
/// Empty strings decode to `nil` for the optional fields (proto3: zero means absent); an admission
/// or grant whose kind is UNSPECIFIED is absent. `Admission.index` travels only for IP and
/// virtual network rules, `Grant.index` for both grant kinds. `enableRbacAuthorization` (an
/// audit field of the daemon's log) is not on the wire.
extension Decision: WireMessage {
    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__CheckResponse.self, from: payload) {
            message throws(MessageCodingError) in
            try Decision(cMessage: message)
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        ProtobufCCodec.encode(Moat__V1__CheckResponse.self, into: &buffer) { message, arena in
            fill(message, &arena)
        }
    }

    init(cMessage message: borrowing Moat__V1__CheckResponse) throws(MessageCodingError) {
        let outcome: Outcome
        switch message.decision {
        case MOAT__V1__DECISION__DECISION_ALLOW: outcome = .allow
        case MOAT__V1__DECISION__DECISION_DENY: outcome = .deny
        case MOAT__V1__DECISION__DECISION_UNSPECIFIED:
            throw MessageCodingError(
                code: .noDecision,
                field: "decision",
                message: "could not decide: the answer's decision is DECISION_UNSPECIFIED"
            )
        default:
            throw MessageCodingError(
                code: .noDecision,
                field: "decision",
                message: "could not decide: the answer's decision \(message.decision.rawValue) is not ALLOW or DENY"
            )
        }
        guard let code = Code(wire: message.code) else {
            throw .invalidValue(field: "code", "holds \(message.code.rawValue), not a ResultCode Moat knows")
        }
        guard message.http_status == code.httpStatus else {
            throw .invalidValue(
                field: "http_status",
                "holds \(message.http_status), but code \(code.rawValue) is HTTP \(code.httpStatus)"
            )
        }
        guard (outcome == .allow) == (code == .ok) else {
            throw .invalidValue(field: "code", "holds \(code.rawValue), which contradicts decision \(outcome)")
        }
        let innerCode: InnerCode?
        if message.inner_code == MOAT__V1__INNER_CODE__INNER_CODE_UNSPECIFIED {
            innerCode = nil
        } else if let known = InnerCode(wire: message.inner_code) {
            innerCode = known
        } else {
            throw .invalidValue(
                field: "inner_code",
                "holds \(message.inner_code.rawValue), not an InnerCode Moat knows"
            )
        }
        guard let stage = Stage(wire: message.stage) else {
            throw .invalidValue(field: "stage", "holds \(message.stage.rawValue), not a Stage Moat knows")
        }
        let admittedBy: Admission?
        do throws(MessageCodingError) {
            admittedBy = try message.admitted_by.flatMap { pointer throws(MessageCodingError) in
                try Admission(cMessage: pointer.pointee)
            }
        } catch {
            throw error.nested(in: "admitted_by")
        }
        let grantedBy: Grant?
        do throws(MessageCodingError) {
            grantedBy = try message.granted_by.flatMap { pointer throws(MessageCodingError) in
                try Grant(cMessage: pointer.pointee)
            }
        } catch {
            throw error.nested(in: "granted_by")
        }
        self.init(
            outcome: outcome,
            code: code,
            innerCode: innerCode,
            stage: stage,
            message: CString.string(message.message),
            admittedBy: admittedBy,
            grantedBy: grantedBy,
            required: CString.optional(message.required),
            wwwAuthenticate: CString.optional(message.www_authenticate),
            revision: message.revision.map { Revision(cMessage: $0.pointee) } ?? Revision(sequence: 0, hash: ""),
            caller: message.caller.map { Caller(cMessage: $0.pointee) }
        )
    }

    /// Fills a `CheckResponse`. Never fails, whatever the engine put in the decision: strings are
    /// made packable and capped (`maximumWireMessageBytes`, `maximumWireFieldBytes`; see
    /// `PackingArena.setPackable`), because they may echo what a caller sent (a token's claims).
    func fill(_ message: UnsafeMutablePointer<Moat__V1__CheckResponse>, _ arena: inout PackingArena) {
        message.pointee.decision =
            switch outcome {
            case .allow: MOAT__V1__DECISION__DECISION_ALLOW
            case .deny: MOAT__V1__DECISION__DECISION_DENY
            }
        message.pointee.http_status = UInt32(httpStatus)
        message.pointee.code = code.wire
        message.pointee.inner_code = innerCode?.wire ?? MOAT__V1__INNER_CODE__INNER_CODE_UNSPECIFIED
        arena.setPackable(&message.pointee.message, self.message, limit: Self.maximumWireMessageBytes)
        message.pointee.stage = stage.wire
        if let admittedBy {
            let admission = arena.message(Moat__V1__Admission.self)
            admittedBy.fill(admission, &arena)
            message.pointee.admitted_by = admission
        }
        if let grantedBy {
            let grant = arena.message(Moat__V1__Grant.self)
            grantedBy.fill(grant, &arena)
            message.pointee.granted_by = grant
        }
        arena.setPackable(&message.pointee.required, required, limit: Self.maximumWireFieldBytes)
        arena.setPackable(&message.pointee.www_authenticate, wwwAuthenticate, limit: Self.maximumWireFieldBytes)
        let revision = arena.message(Moat__V1__Revision.self)
        self.revision.fill(revision, &arena)
        message.pointee.revision = revision
        if let caller {
            let cCaller = arena.message(Moat__V1__Caller.self)
            caller.fill(cCaller, &arena)
            message.pointee.caller = cCaller
        }
    }
}

extension Decision {
    /// The most UTF-8 bytes `CheckResponse.message` carries on the wire (docs/protocol.md); a
    /// longer message is cut and ends with "…".
    public static let maximumWireMessageBytes = 4096
    /// The most UTF-8 bytes every other string of a `CheckResponse` carries on the wire.
    public static let maximumWireFieldBytes = 1024
}

extension Caller {
    init(cMessage message: borrowing Moat__V1__Caller) {
        self.init(
            objectId: CString.string(message.object_id),
            applicationId: CString.string(message.application_id),
            tenantId: CString.string(message.tenant_id),
            issuer: CString.string(message.issuer)
        )
    }

    func fill(_ message: UnsafeMutablePointer<Moat__V1__Caller>, _ arena: inout PackingArena) {
        let limit = Decision.maximumWireFieldBytes
        arena.setPackable(&message.pointee.object_id, objectId, limit: limit)
        arena.setPackable(&message.pointee.application_id, applicationId, limit: limit)
        arena.setPackable(&message.pointee.tenant_id, tenantId, limit: limit)
        arena.setPackable(&message.pointee.issuer, issuer, limit: limit)
    }
}

extension Admission {
    /// `nil` for ADMISSION_KIND_UNSPECIFIED ("the network stage was not reached").
    init?(cMessage message: borrowing Moat__V1__Admission) throws(MessageCodingError) {
        if message.kind == MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_UNSPECIFIED { return nil }
        guard let kind = Kind(wire: message.kind) else {
            throw .invalidValue(field: "kind", "holds \(message.kind.rawValue), not an AdmissionKind Moat knows")
        }
        var index: Int?
        if kind.hasIndex {
            guard message.index >= 0 else {
                throw .invalidValue(field: "index", "holds \(message.index), not a position in the document")
            }
            index = Int(message.index)
        }
        let mode: TrustedServiceMode?
        if message.mode == MOAT__V1__TRUSTED_SERVICE_MODE__TRUSTED_SERVICE_MODE_UNSPECIFIED {
            mode = nil
        } else if let known = TrustedServiceMode(wire: message.mode) {
            mode = known
        } else {
            throw .invalidValue(field: "mode", "holds \(message.mode.rawValue), not a TrustedServiceMode Moat knows")
        }
        self.init(
            kind: kind,
            index: index,
            rule: CString.optional(message.rule),
            service: CString.optional(message.service),
            mode: mode
        )
    }

    func fill(_ message: UnsafeMutablePointer<Moat__V1__Admission>, _ arena: inout PackingArena) {
        message.pointee.kind = kind.wire
        if kind.hasIndex, let index {
            message.pointee.index = Int32(clamping: index)
        }
        arena.setPackable(&message.pointee.rule, rule, limit: Decision.maximumWireFieldBytes)
        arena.setPackable(&message.pointee.service, service, limit: Decision.maximumWireFieldBytes)
        message.pointee.mode = mode?.wire ?? MOAT__V1__TRUSTED_SERVICE_MODE__TRUSTED_SERVICE_MODE_UNSPECIFIED
    }
}

extension Grant {
    /// `nil` for GRANT_KIND_UNSPECIFIED ("nothing granted").
    init?(cMessage message: borrowing Moat__V1__Grant) throws(MessageCodingError) {
        if message.kind == MOAT__V1__GRANT_KIND__GRANT_KIND_UNSPECIFIED { return nil }
        guard let kind = Kind(wire: message.kind) else {
            throw .invalidValue(field: "kind", "holds \(message.kind.rawValue), not a GrantKind Moat knows")
        }
        guard message.index >= 0 else {
            throw .invalidValue(field: "index", "holds \(message.index), not a position in the document")
        }
        self.init(
            kind: kind,
            index: Int(message.index),
            objectId: CString.optional(message.object_id),
            applicationId: CString.optional(message.application_id),
            id: CString.optional(message.id),
            role: CString.optional(message.role),
            roleDefinitionId: CString.optional(message.role_definition_id)
        )
    }

    func fill(_ message: UnsafeMutablePointer<Moat__V1__Grant>, _ arena: inout PackingArena) {
        let limit = Decision.maximumWireFieldBytes
        message.pointee.kind = kind.wire
        message.pointee.index = Int32(clamping: index ?? 0)
        arena.setPackable(&message.pointee.object_id, objectId, limit: limit)
        arena.setPackable(&message.pointee.application_id, applicationId, limit: limit)
        arena.setPackable(&message.pointee.id, id, limit: limit)
        arena.setPackable(&message.pointee.role, role, limit: limit)
        arena.setPackable(&message.pointee.role_definition_id, roleDefinitionId, limit: limit)
    }
}

extension Revision {
    init(cMessage message: borrowing Moat__V1__Revision) {
        self.init(sequence: message.sequence, hash: CString.string(message.hash))
    }

    func fill(_ message: UnsafeMutablePointer<Moat__V1__Revision>, _ arena: inout PackingArena) {
        message.pointee.sequence = sequence
        arena.setPackable(&message.pointee.hash, hash, limit: Decision.maximumWireFieldBytes)
    }
}

// MARK: - Enum mappings (proto numbers in authz.proto; the tests check names against the descriptors)
//
// The codes are extensible structs whose only values are their static members, so each `wire`
// switch names them all; its `default` (UNSPECIFIED, which every decoder refuses) is for a member
// added to MoatCore before its number is added here, and EnumDescriptorTests fails on that.

extension Decision.Code {
    init?(wire: Moat__V1__ResultCode) {
        switch wire {
        case MOAT__V1__RESULT_CODE__RESULT_CODE_OK: self = .ok
        case MOAT__V1__RESULT_CODE__RESULT_CODE_BAD_PARAMETER: self = .badParameter
        case MOAT__V1__RESULT_CODE__RESULT_CODE_VAULT_NOT_FOUND: self = .vaultNotFound
        case MOAT__V1__RESULT_CODE__RESULT_CODE_UNAUTHORIZED: self = .unauthorized
        case MOAT__V1__RESULT_CODE__RESULT_CODE_FORBIDDEN: self = .forbidden
        default: return nil
        }
    }

    var wire: Moat__V1__ResultCode {
        switch self {
        case .ok: MOAT__V1__RESULT_CODE__RESULT_CODE_OK
        case .badParameter: MOAT__V1__RESULT_CODE__RESULT_CODE_BAD_PARAMETER
        case .vaultNotFound: MOAT__V1__RESULT_CODE__RESULT_CODE_VAULT_NOT_FOUND
        case .unauthorized: MOAT__V1__RESULT_CODE__RESULT_CODE_UNAUTHORIZED
        case .forbidden: MOAT__V1__RESULT_CODE__RESULT_CODE_FORBIDDEN
        default: MOAT__V1__RESULT_CODE__RESULT_CODE_UNSPECIFIED
        }
    }
}

extension Decision.InnerCode {
    init?(wire: Moat__V1__InnerCode) {
        switch wire {
        case MOAT__V1__INNER_CODE__INNER_CODE_MISSING_TOKEN: self = .missingToken
        case MOAT__V1__INNER_CODE__INNER_CODE_INVALID_TOKEN: self = .invalidToken
        case MOAT__V1__INNER_CODE__INNER_CODE_TOKEN_EXPIRED: self = .tokenExpired
        case MOAT__V1__INNER_CODE__INNER_CODE_INVALID_AUDIENCE: self = .invalidAudience
        case MOAT__V1__INNER_CODE__INNER_CODE_INVALID_ISSUER: self = .invalidIssuer
        case MOAT__V1__INNER_CODE__INNER_CODE_FORBIDDEN_BY_CONNECTION: self = .forbiddenByConnection
        case MOAT__V1__INNER_CODE__INNER_CODE_FORBIDDEN_BY_FIREWALL: self = .forbiddenByFirewall
        case MOAT__V1__INNER_CODE__INNER_CODE_FORBIDDEN_BY_PERIMETER: self = .forbiddenByPerimeter
        case MOAT__V1__INNER_CODE__INNER_CODE_ACCESS_DENIED: self = .accessDenied
        case MOAT__V1__INNER_CODE__INNER_CODE_FORBIDDEN_BY_POLICY: self = .forbiddenByPolicy
        case MOAT__V1__INNER_CODE__INNER_CODE_FORBIDDEN_BY_RBAC: self = .forbiddenByRbac
        default: return nil
        }
    }

    var wire: Moat__V1__InnerCode {
        switch self {
        case .missingToken: MOAT__V1__INNER_CODE__INNER_CODE_MISSING_TOKEN
        case .invalidToken: MOAT__V1__INNER_CODE__INNER_CODE_INVALID_TOKEN
        case .tokenExpired: MOAT__V1__INNER_CODE__INNER_CODE_TOKEN_EXPIRED
        case .invalidAudience: MOAT__V1__INNER_CODE__INNER_CODE_INVALID_AUDIENCE
        case .invalidIssuer: MOAT__V1__INNER_CODE__INNER_CODE_INVALID_ISSUER
        case .forbiddenByConnection: MOAT__V1__INNER_CODE__INNER_CODE_FORBIDDEN_BY_CONNECTION
        case .forbiddenByFirewall: MOAT__V1__INNER_CODE__INNER_CODE_FORBIDDEN_BY_FIREWALL
        case .forbiddenByPerimeter: MOAT__V1__INNER_CODE__INNER_CODE_FORBIDDEN_BY_PERIMETER
        case .accessDenied: MOAT__V1__INNER_CODE__INNER_CODE_ACCESS_DENIED
        case .forbiddenByPolicy: MOAT__V1__INNER_CODE__INNER_CODE_FORBIDDEN_BY_POLICY
        case .forbiddenByRbac: MOAT__V1__INNER_CODE__INNER_CODE_FORBIDDEN_BY_RBAC
        default: MOAT__V1__INNER_CODE__INNER_CODE_UNSPECIFIED
        }
    }
}

extension Decision.Stage {
    init?(wire: Moat__V1__Stage) {
        switch wire {
        case MOAT__V1__STAGE__STAGE_REQUEST: self = .request
        case MOAT__V1__STAGE__STAGE_VAULT: self = .vault
        case MOAT__V1__STAGE__STAGE_AUTHENTICATION: self = .authentication
        case MOAT__V1__STAGE__STAGE_NETWORK: self = .network
        case MOAT__V1__STAGE__STAGE_AUTHORIZATION: self = .authorization
        case MOAT__V1__STAGE__STAGE_ALLOW: self = .allow
        default: return nil
        }
    }

    var wire: Moat__V1__Stage {
        switch self {
        case .request: MOAT__V1__STAGE__STAGE_REQUEST
        case .vault: MOAT__V1__STAGE__STAGE_VAULT
        case .authentication: MOAT__V1__STAGE__STAGE_AUTHENTICATION
        case .network: MOAT__V1__STAGE__STAGE_NETWORK
        case .authorization: MOAT__V1__STAGE__STAGE_AUTHORIZATION
        case .allow: MOAT__V1__STAGE__STAGE_ALLOW
        default: MOAT__V1__STAGE__STAGE_UNSPECIFIED
        }
    }
}

extension Admission.Kind {
    /// Whether `Admission.index` means something for this kind (a rule's position).
    var hasIndex: Bool { self == .ipRule || self == .virtualNetworkRule }

    init?(wire: Moat__V1__AdmissionKind) {
        switch wire {
        case MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_PRIVATE_ENDPOINT: self = .privateEndpoint
        case MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_DEFAULT_ALLOW: self = .defaultAllow
        case MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_IP_RULE: self = .ipRule
        case MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_VIRTUAL_NETWORK_RULE: self = .virtualNetworkRule
        case MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_TRUSTED_SERVICE: self = .trustedService
        case MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_PERIMETER: self = .perimeter
        case MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_NOT_APPLICABLE: self = .notApplicable
        default: return nil
        }
    }

    var wire: Moat__V1__AdmissionKind {
        switch self {
        case .privateEndpoint: MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_PRIVATE_ENDPOINT
        case .defaultAllow: MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_DEFAULT_ALLOW
        case .ipRule: MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_IP_RULE
        case .virtualNetworkRule: MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_VIRTUAL_NETWORK_RULE
        case .trustedService: MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_TRUSTED_SERVICE
        case .perimeter: MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_PERIMETER
        case .notApplicable: MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_NOT_APPLICABLE
        default: MOAT__V1__ADMISSION_KIND__ADMISSION_KIND_UNSPECIFIED
        }
    }
}

extension Admission.TrustedServiceMode {
    init?(wire: Moat__V1__TrustedServiceMode) {
        switch wire {
        case MOAT__V1__TRUSTED_SERVICE_MODE__TRUSTED_SERVICE_MODE_MANAGED_IDENTITY: self = .managedIdentity
        case MOAT__V1__TRUSTED_SERVICE_MODE__TRUSTED_SERVICE_MODE_SUBSCRIPTION: self = .subscription
        case MOAT__V1__TRUSTED_SERVICE_MODE__TRUSTED_SERVICE_MODE_FEDERATED: self = .federated
        default: return nil
        }
    }

    var wire: Moat__V1__TrustedServiceMode {
        switch self {
        case .managedIdentity: MOAT__V1__TRUSTED_SERVICE_MODE__TRUSTED_SERVICE_MODE_MANAGED_IDENTITY
        case .subscription: MOAT__V1__TRUSTED_SERVICE_MODE__TRUSTED_SERVICE_MODE_SUBSCRIPTION
        case .federated: MOAT__V1__TRUSTED_SERVICE_MODE__TRUSTED_SERVICE_MODE_FEDERATED
        default: MOAT__V1__TRUSTED_SERVICE_MODE__TRUSTED_SERVICE_MODE_UNSPECIFIED
        }
    }
}

extension Grant.Kind {
    init?(wire: Moat__V1__GrantKind) {
        switch wire {
        case MOAT__V1__GRANT_KIND__GRANT_KIND_ACCESS_POLICY: self = .accessPolicy
        case MOAT__V1__GRANT_KIND__GRANT_KIND_ROLE_ASSIGNMENT: self = .roleAssignment
        default: return nil
        }
    }

    var wire: Moat__V1__GrantKind {
        switch self {
        case .accessPolicy: MOAT__V1__GRANT_KIND__GRANT_KIND_ACCESS_POLICY
        case .roleAssignment: MOAT__V1__GRANT_KIND__GRANT_KIND_ROLE_ASSIGNMENT
        default: MOAT__V1__GRANT_KIND__GRANT_KIND_UNSPECIFIED
        }
    }
}
