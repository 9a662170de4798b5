public import MoatCore

/// A tenant's signing keys as a key source published them (`docs/rules.md`, "`tenants[]`"), checked
/// and imported into swift-crypto, ready to be added to a `JWTVerifier`.
///
/// A set is accepted or refused as a whole, with the rules of the document's `tenants[].jwks`: a
/// JWKS with one key Moat cannot use is refused, so a half-understood set is never served.
public struct TenantKeySet: Sendable {
    /// Lower-case GUID.
    public let tenantId: String
    /// The `kid`s, sorted.
    public let keyIDs: [String]
    /// The JWKS document as published.
    public let jwks: [UInt8]
    let keys: [String: VerificationKey]

    /// Reads and imports the JWKS document `bytes`; throws every problem, each at its path (`keys[1].n`).
    public init(tenantId: String, jwks bytes: [UInt8]) throws(DocumentError) {
        let parsed = try JSONWebKeySet.keys(parsing: bytes)
        var errors: [ValidationError] = []
        let keys = VerificationKey.importing(parsed, errors: &errors)
        guard errors.isEmpty else { throw DocumentError(errors: errors) }
        guard !keys.isEmpty else {
            throw DocumentError(errors: [ValidationError(path: "keys", message: "no signing keys: the set is empty")])
        }
        self.tenantId = tenantId.lowercased()
        self.keyIDs = keys.keys.sorted()
        self.jwks = bytes
        self.keys = keys
    }
}
