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
    ///
    /// A struct with static members rather than an enum, so that a code added later does not break
    /// a `switch` written against this version (give yours a `default`). Every value is one of the
    /// static members: `init(rawValue:)` refuses any other name.
    public struct Code: RawRepresentable, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// The JSON name, `"Forbidden"`.
        public let rawValue: String
        /// The HTTP status Key Vault answers with.
        public let httpStatus: Int
        /// The audit log's `resultSignature`.
        public let resultSignature: String

        private init(_ rawValue: String, httpStatus: Int, resultSignature: String) {
            self.rawValue = rawValue
            self.httpStatus = httpStatus
            self.resultSignature = resultSignature
        }

        /// The code of that JSON name; `nil` for a name Moat does not know.
        public init?(rawValue: String) {
            guard let known = knownCase(Self.self, rawValue) else { return nil }
            self = known
        }

        public static let ok = Code("OK", httpStatus: 200, resultSignature: "OK")
        public static let badParameter = Code("BadParameter", httpStatus: 400, resultSignature: "BadRequest")
        public static let vaultNotFound = Code("VaultNotFound", httpStatus: 404, resultSignature: "NotFound")
        public static let unauthorized = Code("Unauthorized", httpStatus: 401, resultSignature: "Unauthorized")
        public static let forbidden = Code("Forbidden", httpStatus: 403, resultSignature: "Forbidden")

        public static let allCases: [Code] = [.ok, .badParameter, .vaultNotFound, .unauthorized, .forbidden]

        public var description: String { rawValue }
    }

    /// Azure's `innerError.code` (the 401 ones are Moat's, see `docs/semantics.md`, "The pipeline").
    ///
    /// Extensible like ``Code``: Key Vault adds inner codes, and a new one must not break a client's
    /// `switch`.
    public struct InnerCode: RawRepresentable, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// The JSON name, `"ForbiddenByFirewall"`.
        public let rawValue: String
        /// The top-level code this inner code goes with.
        public let code: Code

        private init(_ rawValue: String, _ code: Code) {
            self.rawValue = rawValue
            self.code = code
        }

        /// The inner code of that JSON name; `nil` for a name Moat does not know.
        public init?(rawValue: String) {
            guard let known = knownCase(Self.self, rawValue) else { return nil }
            self = known
        }

        public static let missingToken = InnerCode("MissingToken", .unauthorized)
        public static let invalidToken = InnerCode("InvalidToken", .unauthorized)
        public static let tokenExpired = InnerCode("TokenExpired", .unauthorized)
        public static let invalidAudience = InnerCode("InvalidAudience", .unauthorized)
        public static let invalidIssuer = InnerCode("InvalidIssuer", .unauthorized)
        public static let forbiddenByConnection = InnerCode("ForbiddenByConnection", .forbidden)
        public static let forbiddenByFirewall = InnerCode("ForbiddenByFirewall", .forbidden)
        public static let forbiddenByPerimeter = InnerCode("ForbiddenByPerimeter", .forbidden)
        public static let accessDenied = InnerCode("AccessDenied", .forbidden)
        public static let forbiddenByPolicy = InnerCode("ForbiddenByPolicy", .forbidden)
        public static let forbiddenByRbac = InnerCode("ForbiddenByRbac", .forbidden)

        public static let allCases: [InnerCode] = [
            .missingToken, .invalidToken, .tokenExpired, .invalidAudience, .invalidIssuer, .forbiddenByConnection,
            .forbiddenByFirewall, .forbiddenByPerimeter, .accessDenied, .forbiddenByPolicy, .forbiddenByRbac,
        ]

        public var description: String { rawValue }
    }

    /// The pipeline stage that decided (`docs/semantics.md`, "The pipeline"); extensible like ``Code``.
    public struct Stage: RawRepresentable, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// The JSON name, `"Network"`.
        public let rawValue: String

        private init(_ rawValue: String) {
            self.rawValue = rawValue
        }

        /// The stage of that JSON name; `nil` for a name Moat does not know.
        public init?(rawValue: String) {
            guard let known = knownCase(Self.self, rawValue) else { return nil }
            self = known
        }

        public static let request = Stage("Request")
        public static let vault = Stage("Vault")
        public static let authentication = Stage("Authentication")
        public static let network = Stage("Network")
        public static let authorization = Stage("Authorization")
        public static let allow = Stage("Allow")

        public static let allCases: [Stage] = [.request, .vault, .authentication, .network, .authorization, .allow]

        public var description: String { rawValue }
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
