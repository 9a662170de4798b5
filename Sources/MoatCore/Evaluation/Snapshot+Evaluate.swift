extension Snapshot {
    /// Decides one request: the pipeline of `docs/semantics.md`, "The pipeline", first failing stage decides.
    ///
    /// Pure: the answer depends only on the arguments. `verifier` must be built for this snapshot's
    /// keys (tokens are verified lazily, only when the authentication stage is reached).
    public func evaluate(
        _ request: CheckRequest,
        verifier: some TokenVerifier,
        context: EvaluationContext
    ) -> Decision {
        // Stage 0: the request itself.
        if request.vault.isEmpty {
            return badParameter("The request names no vault.")
        }
        guard let operation = request.operation else {
            return badParameter("The request names no operation, or one that is not a Key Vault operation.")
        }
        var source: IPAddress?
        if !request.sourceAddress.isEmpty {
            guard let address = IPAddress(request.sourceAddress) else {
                return badParameter(
                    "The source address \(Echo.quoted(request.sourceAddress)) is not an IPv4 or IPv6 address."
                )
            }
            source = address
        }
        if !request.token.isEmpty && request.assertedIdentity != nil {
            return badParameter("The request carries both a token and an asserted identity.")
        }

        // Stage 0: the vault.
        guard let vault = vaults[CaseInsensitiveKey(request.vault)] else {
            return Decision(
                outcome: .deny,
                code: .vaultNotFound,
                stage: .vault,
                message: "Vault not found: \(Echo.quoted(request.vault)).",
                revision: revision
            )
        }

        var decision = decide(
            request,
            operation: operation,
            source: source,
            vault: vault,
            verifier: verifier,
            context: context
        )
        decision.enableRbacAuthorization = vault.enableRbacAuthorization
        return decision
    }

    /// Stages 1 to 4, once the request is well-formed and names a vault.
    private func decide(
        _ request: CheckRequest,
        operation: Operation,
        source: IPAddress?,
        vault: Vault,
        verifier: some TokenVerifier,
        context: EvaluationContext
    ) -> Decision {
        // Stage 1: authentication.
        let claims: TokenClaims
        switch vault.authenticate(
            request,
            operation: operation,
            verifier: verifier,
            context: context,
            settings: authentication
        ) {
        case .success(let verified): claims = verified
        case .failure(let failure):
            return Decision(
                outcome: .deny,
                code: .unauthorized,
                innerCode: failure.innerCode,
                stage: .authentication,
                message: failure.message,
                wwwAuthenticate: vault.challenge,
                revision: revision,
                caller: failure.caller
            )
        }
        let caller = Caller(claims)

        // Stage 2: the network gate (data plane only).
        let admission: Admission
        switch vault.admit(request, operation, source: source, claims: claims) {
        case .success(let admitted): admission = admitted
        case .failure(let failure):
            return Decision(
                outcome: .deny,
                code: .forbidden,
                innerCode: failure.innerCode,
                stage: .network,
                message: failure.message,
                revision: revision,
                caller: caller
            )
        }

        // Stage 3: authorization.
        switch vault.authorize(operation, objectName: request.objectName, claims: claims) {
        case .success(let grant):
            return Decision(
                outcome: .allow,
                code: .ok,
                stage: .allow,
                message: "Allowed.",
                admittedBy: admission,
                grantedBy: grant.grant,
                required: grant.required,
                revision: revision,
                caller: caller
            )
        case .failure(let failure):
            return Decision(
                outcome: .deny,
                code: .forbidden,
                innerCode: failure.innerCode,
                stage: .authorization,
                message: failure.message,
                admittedBy: admission,
                required: failure.required,
                revision: revision,
                caller: caller
            )
        }
    }

    private func badParameter(_ message: String) -> Decision {
        Decision(outcome: .deny, code: .badParameter, stage: .request, message: message, revision: revision)
    }
}

/// Why a stage refused a request.
struct StageFailure: Error {
    var innerCode: Decision.InnerCode
    var message: String
    /// The permission or data action that was missing (authorization).
    var required: String?
    /// Who the caller is, when known at the point of failure.
    var caller: Caller?
}

extension Caller {
    init(_ claims: TokenClaims) {
        self.init(
            objectId: claims.objectId,
            applicationId: claims.applicationId,
            tenantId: claims.tenantId,
            issuer: claims.issuer
        )
    }

    /// How Azure names a caller in denial messages: `appid=…;oid=…;iss=…`.
    var azureDescription: String { "appid=\(applicationId);oid=\(objectId);iss=\(issuer)" }
}
