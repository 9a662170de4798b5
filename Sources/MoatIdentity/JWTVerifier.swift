internal import Crypto
public import MoatCore

/// Verifies Entra ID bearer tokens (RS256, and ES256) against the tenant keys of one snapshot.
///
/// Keys are imported into swift-crypto once, when a document is loaded, so a refused key is a
/// validation error of the document rather than a surprise on the request path, and checking a
/// token costs one JSON parse and one signature verification. `verify(_:)` is synchronous, never
/// throws and never traps, whatever bytes it is given.
///
/// ```swift
/// let verifier = try JWTVerifier(snapshot: snapshot)
/// switch verifier.verify(token[...]) {
/// case .malformed(let reason): print("InvalidToken:", reason)
/// case .parsed(let claims, let failure): print(claims.objectId, failure ?? "signature verified")
/// }
/// ```
public struct JWTVerifier: TokenVerifier {
    /// Tenant id (lower case) → `kid` → imported key.
    private let keys: [String: [String: VerificationKey]]
    /// Told the tenant of a token whose `kid` no key has (`docs/semantics.md`, "Signing keys kept current").
    private let unknownKey: (@Sendable (_ tenantId: String) -> Void)?

    /// Imports every tenant key; throws every key swift-crypto refuses, each at its JSON path.
    public init(tenants: [TenantKeys]) throws(DocumentError) {
        var keys: [String: [String: VerificationKey]] = [:]
        var errors: [ValidationError] = []
        for tenant in tenants {
            let tenantKeys = VerificationKey.importing(tenant.keys, errors: &errors)
            keys[tenant.tenantId.lowercased(), default: [:]].merge(tenantKeys) { first, _ in first }
        }
        guard errors.isEmpty else { throw DocumentError(errors: errors) }
        self.keys = keys
        self.unknownKey = nil
    }

    private init(keys: [String: [String: VerificationKey]], unknownKey: (@Sendable (String) -> Void)?) {
        self.keys = keys
        self.unknownKey = unknownKey
    }

    /// This verifier with each set's keys added to its tenant's (a `kid` the document lists keeps the
    /// document's key); `unknownKey` is called, on the checking thread, with the tenant of each token
    /// whose `kid` none of them has, so that it can start a refresh. It must return at once.
    public func adding(
        _ sets: some Sequence<TenantKeySet>,
        unknownKey: (@Sendable (_ tenantId: String) -> Void)?
    ) -> JWTVerifier {
        var keys = self.keys
        for set in sets {
            keys[set.tenantId, default: [:]].merge(set.keys) { inline, _ in inline }
        }
        return JWTVerifier(keys: keys, unknownKey: unknownKey)
    }

    /// Imports the keys of a compiled snapshot's `tenants`.
    public init(snapshot: Snapshot) throws(DocumentError) {
        try self.init(tenants: snapshot.tenants)
    }

    /// The longest token verified, in UTF-8 bytes (without `Bearer `): a longer one is
    /// `.malformed` before it is parsed.
    public static let maximumTokenBytes = ParsedToken.maximumBytes

    /// Parses `token` and checks its signature with the key its `tid` and `kid` select.
    ///
    /// Depends only on the token and the keys (not on the vault or the clock), so the answer can be
    /// cached per snapshot until the token expires.
    public func verify(_ token: Substring) -> TokenVerification {
        let parsed: ParsedToken
        do {
            parsed = try ParsedToken(token)
        } catch {
            return .malformed(reason: error.reason)
        }
        return .parsed(parsed.claims, signatureFailure: signatureFailure(parsed))
    }

    private func signatureFailure(_ token: ParsedToken) -> String? {
        guard let keyID = token.keyID, let key = keys[token.claims.tenantId.lowercased()]?[keyID] else {
            if token.keyID != nil, let unknownKey { unknownKey(token.claims.tenantId.lowercased()) }
            return "AKV10046: Unable to resolve the key used for signature validation. "
                + "EncodedJwtHeader: \(Echo.quoted(token.headerSegment))."
        }
        guard key.algorithm == token.algorithm else {
            return "[InvalidSignature] Error validating token: the token's alg is \(token.algorithm.rawValue) but key "
                + "\(Echo.quoted(keyID)) is an \(key.algorithm.keyType) key, which verifies \(key.algorithm.rawValue) only."
        }
        return key.failure(verifying: token.signature, for: SHA256.digest(of: token.signingInput.utf8), keyID: keyID)
    }

}
