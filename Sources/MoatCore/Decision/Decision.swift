/// The engine's answer to a `CheckRequest`: allow or deny, and why.
///
/// A deny is a decision like an allow; "could not decide" (no rules, a deadline passed) is never a
/// `Decision` but an error status on the wire. Field meanings follow README.md, "Requests and decisions".
public struct Decision: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        case allow
        case deny
    }

    /// Azure's top-level error `code`.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        case ok = "OK"
        case badParameter = "BadParameter"
        case vaultNotFound = "VaultNotFound"
        case unauthorized = "Unauthorized"
        case forbidden = "Forbidden"

        /// The HTTP status Key Vault answers with.
        public var httpStatus: Int {
            switch self {
            case .ok: 200
            case .badParameter: 400
            case .vaultNotFound: 404
            case .unauthorized: 401
            case .forbidden: 403
            }
        }

        /// The audit log's `resultSignature`.
        public var resultSignature: String {
            switch self {
            case .ok: "OK"
            case .badParameter: "BadRequest"
            case .vaultNotFound: "NotFound"
            case .unauthorized: "Unauthorized"
            case .forbidden: "Forbidden"
            }
        }
    }

    /// Azure's `innerError.code` (the 401 ones are Moat's, see `docs/semantics.md`, "The pipeline").
    public enum InnerCode: String, Sendable, Hashable, CaseIterable {
        case missingToken = "MissingToken"
        case invalidToken = "InvalidToken"
        case tokenExpired = "TokenExpired"
        case invalidAudience = "InvalidAudience"
        case invalidIssuer = "InvalidIssuer"
        case forbiddenByConnection = "ForbiddenByConnection"
        case forbiddenByFirewall = "ForbiddenByFirewall"
        case forbiddenByPerimeter = "ForbiddenByPerimeter"
        case accessDenied = "AccessDenied"
        case forbiddenByPolicy = "ForbiddenByPolicy"
        case forbiddenByRbac = "ForbiddenByRbac"

        /// The top-level code this inner code goes with.
        public var code: Code {
            switch self {
            case .missingToken, .invalidToken, .tokenExpired, .invalidAudience, .invalidIssuer: .unauthorized
            default: .forbidden
            }
        }
    }

    /// The pipeline stage that decided (`docs/semantics.md`, "The pipeline").
    public enum Stage: String, Sendable, Hashable, CaseIterable {
        case request = "Request"
        case vault = "Vault"
        case authentication = "Authentication"
        case network = "Network"
        case authorization = "Authorization"
        case allow = "Allow"
    }

    public var outcome: Outcome
    public var code: Code
    public var innerCode: InnerCode?
    public var stage: Stage
    public var message: String
    /// What admitted the network source; `nil` when the network stage was not reached.
    public var admittedBy: Admission?
    /// What granted the permission; `nil` unless it was granted.
    public var grantedBy: Grant?
    /// On a 403 the permission or data action that was missing; on an allow the one granted.
    public var required: String?
    /// The challenge sent with a 401.
    public var wwwAuthenticate: String?
    /// The snapshot the decision was made on.
    public var revision: Revision
    /// Who asked, as far as the engine learned it (for the decision log).
    public var caller: Caller?
    /// The vault's `enableRbacAuthorization`, once the vault was found (for the decision log).
    public var enableRbacAuthorization: Bool?

    public var httpStatus: Int { code.httpStatus }

    public init(
        outcome: Outcome,
        code: Code,
        innerCode: InnerCode? = nil,
        stage: Stage,
        message: String,
        admittedBy: Admission? = nil,
        grantedBy: Grant? = nil,
        required: String? = nil,
        wwwAuthenticate: String? = nil,
        revision: Revision,
        caller: Caller? = nil
    ) {
        self.outcome = outcome
        self.code = code
        self.innerCode = innerCode
        self.stage = stage
        self.message = message
        self.admittedBy = admittedBy
        self.grantedBy = grantedBy
        self.required = required
        self.wwwAuthenticate = wwwAuthenticate
        self.revision = revision
        self.caller = caller
    }
}

/// The caller as the decision saw it: from a verified token, or asserted by a trusted peer.
public struct Caller: Sendable, Hashable {
    public var objectId: String
    public var applicationId: String
    public var tenantId: String
    public var issuer: String

    public init(objectId: String, applicationId: String, tenantId: String, issuer: String) {
        self.objectId = objectId
        self.applicationId = applicationId
        self.tenantId = tenantId
        self.issuer = issuer
    }
}

/// Identifies the snapshot an answer was decided on (README.md, "Requests and decisions").
public struct Revision: Sendable, Hashable, CustomStringConvertible {
    /// Counts accepted snapshots since the daemon started; 1 for offline evaluation.
    public var sequence: UInt64
    /// First 16 hex digits of SHA-256 over the document's bytes.
    public var hash: String

    public init(sequence: UInt64, hash: String) {
        self.sequence = sequence
        self.hash = hash
    }

    public var description: String { "\(sequence) (\(hash))" }
}
