/// The claims of a bearer token that Key Vault's decision uses (`docs/semantics.md`, "Stage 1: authentication").
///
/// A class so that a verified token can be cached and shared between checks without copying.
public final class TokenClaims: Sendable {
    /// `iss`.
    public let issuer: String
    /// `tid`.
    public let tenantId: String
    /// `oid`: the caller's object id.
    public let objectId: String
    /// `appid` (v1 tokens) or `azp` (v2 tokens).
    public let applicationId: String
    /// `aud`, a string or a list in the token.
    public let audiences: [String]
    /// `exp` and `nbf`, Unix seconds.
    public let expiresAt: Int64?
    public let notBefore: Int64?
    /// `groups`: object ids of the caller's groups.
    public let groups: [String]
    /// True when the token reports group overage (`_claim_names.groups` or `hasgroups`) instead
    /// of listing groups: group-based grants do not apply.
    public let hasGroupOverage: Bool
    /// `xms_mirid`: the ARM id of the resource a managed identity belongs to.
    public let managedIdentityResourceId: String
    /// `xms_az_rid`: the ARM id of the Azure resource the caller acts for.
    public let azureResourceId: String
    /// The two ids parsed once here, not once per trusted-service entry; `nil` when not ARM ids.
    let managedIdentityResource: ResourceID?
    let azureResource: ResourceID?

    public init(
        issuer: String = "",
        tenantId: String = "",
        objectId: String = "",
        applicationId: String = "",
        audiences: [String] = [],
        expiresAt: Int64? = nil,
        notBefore: Int64? = nil,
        groups: [String] = [],
        hasGroupOverage: Bool = false,
        managedIdentityResourceId: String = "",
        azureResourceId: String = ""
    ) {
        self.issuer = issuer
        self.tenantId = tenantId
        self.objectId = objectId
        self.applicationId = applicationId
        self.audiences = audiences
        self.expiresAt = expiresAt
        self.notBefore = notBefore
        self.groups = groups
        self.hasGroupOverage = hasGroupOverage
        self.managedIdentityResourceId = managedIdentityResourceId
        self.azureResourceId = azureResourceId
        managedIdentityResource = ResourceID(managedIdentityResourceId)
        azureResource = ResourceID(azureResourceId)
    }
}

/// What a `TokenVerifier` found out about a token, before anything that depends on the vault.
public enum TokenVerification: Sendable {
    /// Not a JWT Moat accepts: malformed, or an algorithm other than RS256 / ES256.
    case malformed(reason: String)
    /// The token parsed; `signatureFailure` is `nil` when the signature verified against the
    /// snapshot's keys for the token's tenant (`tid`) and `kid`, else says why it did not.
    case parsed(TokenClaims, signatureFailure: String?)
}

/// Parses a JWT and checks its signature with a snapshot's tenant keys.
///
/// The engine decides everything that depends on the vault and the clock (issuer, audience,
/// lifetime) itself, in the order docs/semantics.md, "Token checks, in order", fixes; a verifier's answer depends only
/// on the token and the keys, so it can be cached per snapshot until the token expires.
/// `MoatIdentity.JWTVerifier` implements it.
public protocol TokenVerifier: Sendable {
    func verify(_ token: Substring) -> TokenVerification
}
