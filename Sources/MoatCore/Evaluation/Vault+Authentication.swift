extension Vault {
    /// Stage 1 (`docs/semantics.md`, "Stage 1: authentication"). Token checks run in the order docs/semantics.md ("Token checks, in order")
    /// fixes: parse and algorithm, issuer and tenant, signature, audience, lifetime.
    func authenticate(
        _ request: CheckRequest,
        operation: Operation,
        verifier: some TokenVerifier,
        context: EvaluationContext,
        settings: AuthenticationSettings
    ) -> Result<TokenClaims, StageFailure> {
        if request.token.isEmpty {
            guard let asserted = request.assertedIdentity else {
                return .failure(Self.missingToken)
            }
            return authenticate(asserted, trusted: context.trustsAssertedIdentity)
        }

        var token = Substring(request.token)
        if token.utf8.count >= 7,
            token.utf8.prefix(7).elementsEqual("bearer ".utf8, by: { CaseInsensitiveKey.fold($0) == $1 })
        {
            token = token.dropFirst(7)
        }
        if token.utf8.allSatisfy({ $0 == UInt8(ascii: " ") }) {
            return .failure(Self.missingToken)
        }
        let claims: TokenClaims
        let signatureFailure: String?
        switch verifier.verify(token) {
        case .malformed(let reason):
            return .failure(
                StageFailure(
                    innerCode: .invalidToken,
                    message: "[BearerReadAccessTokenFailed] Error validating token: \(reason)"
                )
            )
        case .parsed(let parsed, let failure):
            claims = parsed
            signatureFailure = failure
        }
        // Until the signature has verified, the claims are whatever the sender wrote: these two
        // refusals name no caller (docs/semantics.md, "Who the caller is").
        guard issuers.contains(claims.issuer), claims.tenantId.equalsIgnoringCase(tenantId) else {
            let found = issuers.contains(claims.issuer) ? "tid \(claims.tenantId)" : claims.issuer
            return .failure(
                StageFailure(
                    innerCode: .invalidIssuer,
                    message:
                        "AKV10032: Invalid issuer. Expected one of \(issuers.joined(separator: ", ")), found \(Echo.truncated(found))."
                )
            )
        }
        if let signatureFailure {
            return .failure(StageFailure(innerCode: .invalidToken, message: signatureFailure))
        }
        let audiences = operation.isControlPlane ? settings.controlPlaneAudiences : settings.dataPlaneAudiences
        guard claims.audiences.contains(where: audiences.contains) else {
            return .failure(
                StageFailure(
                    innerCode: .invalidAudience,
                    message:
                        "AKV10022: Invalid audience. Expected \(audiences[0]), found: \(Echo.list(claims.audiences)).",
                    caller: Caller(claims)
                )
            )
        }
        let skew = Int64(settings.clockSkewSeconds)
        // Built only for a refusal: an allowed check formats nothing.
        func window() -> String { "(now \(context.now), allowed clock skew \(skew) s)" }
        if let expiresAt = claims.expiresAt, context.now - skew >= expiresAt {
            return .failure(
                StageFailure(
                    innerCode: .tokenExpired,
                    message:
                        "[TokenExpired] Error validating token: 'S2S12086'. The token expired at \(expiresAt) \(window()).",
                    caller: Caller(claims)
                )
            )
        }
        if let notBefore = claims.notBefore, context.now + skew < notBefore {
            return .failure(
                StageFailure(
                    innerCode: .tokenExpired,
                    message:
                        "[TokenNotYetValid] Error validating token: the token is not valid before \(notBefore) \(window()).",
                    caller: Caller(claims)
                )
            )
        }
        return .success(claims)
    }

    private static let missingToken = StageFailure(
        innerCode: .missingToken,
        message: "AKV10000: Request is missing a Bearer or PoP token."
    )

    /// Claims a local peer asserts instead of a token: accepted only from trusted asserters, and
    /// only for the vault's tenant.
    private func authenticate(_ asserted: AssertedIdentity, trusted: Bool) -> Result<TokenClaims, StageFailure> {
        guard trusted else {
            return .failure(
                StageFailure(
                    innerCode: .invalidToken,
                    message:
                        "An asserted identity is accepted only from a trusted asserter peer; send the token instead."
                )
            )
        }
        let claims = TokenClaims(
            issuer: "asserted",
            tenantId: asserted.tid,
            objectId: asserted.oid,
            applicationId: asserted.appid,
            groups: asserted.groups,
            managedIdentityResourceId: asserted.xmsMirid
        )
        guard asserted.tid.equalsIgnoringCase(tenantId) else {
            return .failure(
                StageFailure(
                    innerCode: .invalidIssuer,
                    message:
                        "AKV10032: Invalid issuer. The asserted identity's tenant \(Echo.quoted(asserted.tid)) is not the vault's tenant '\(tenantId)'.",
                    caller: Caller(claims)
                )
            )
        }
        return .success(claims)
    }
}
