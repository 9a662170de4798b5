extension Vault {
    /// Stage 2 (`docs/semantics.md`, "Stage 2: the network gate"): what admits the request's network source.
    func admit(
        _ request: CheckRequest,
        _ operation: Operation,
        source: IPAddress?,
        claims: TokenClaims
    ) -> Result<Admission, StageFailure> {
        guard !operation.isControlPlane else { return .success(Admission(kind: .notApplicable)) }
        if !request.privateEndpointId.isEmpty,
            privateEndpoints[CaseInsensitiveKey(request.privateEndpointId)] == .approved
        {
            return .success(Admission(kind: .privateEndpoint, rule: request.privateEndpointId))
        }
        let bypassAzureServices = firewall?.bypassAzureServices ?? true
        switch publicNetworkAccess {
        case .disabled:
            if bypassAzureServices, let trusted = trustedService(claims, operation: operation) {
                return .success(trusted)
            }
            return .failure(
                StageFailure(
                    innerCode: .forbiddenByConnection,
                    message:
                        "Public network access is disabled and request is not from a trusted service nor via an approved private link. Caller: \(Caller(claims).azureDescription) Vault: \(displayName)"
                )
            )
        case .securedByPerimeter:
            // The perimeter alone admits public traffic: no IP or virtual network rules, no bypass.
            if let source, let index = perimeter.addressTable.lookup(source) {
                return .success(Admission(kind: .perimeter, rule: perimeter.addressPrefixes[Int(index)]))
            }
            if let subscription = claims.managedIdentityResource?.subscriptionId,
                let written = perimeter.subscriptions[subscription.lowercased()]
            {
                return .success(Admission(kind: .perimeter, rule: written))
            }
            return .failure(
                StageFailure(
                    innerCode: .forbiddenByPerimeter,
                    message:
                        "The request was forbidden by the network security perimeter: no inbound access rule admits it. Client address: \(request.sourceAddress.isEmpty ? "unknown" : request.sourceAddress) Caller: \(Caller(claims).azureDescription) Vault: \(displayName)"
                )
            )
        case .enabled:
            guard let firewall, firewall.defaultActionDeny else {
                return .success(Admission(kind: .defaultAllow))
            }
            if let source, let index = firewall.ipRuleTable.lookup(source) {
                return .success(
                    Admission(kind: .ipRule, index: Int(index), rule: firewall.ipRules[Int(index)])
                )
            }
            if !request.subnetId.isEmpty,
                let index = firewall.virtualNetworkRuleBySubnet[CaseInsensitiveKey(request.subnetId)]
            {
                return .success(
                    Admission(kind: .virtualNetworkRule, index: index, rule: firewall.virtualNetworkRules[index])
                )
            }
            if let source, let index = firewall.virtualNetworkRuleByPrefix.lookup(source) {
                return .success(
                    Admission(
                        kind: .virtualNetworkRule,
                        index: Int(index),
                        rule: firewall.virtualNetworkRules[Int(index)]
                    )
                )
            }
            if bypassAzureServices, let trusted = trustedService(claims, operation: operation) {
                return .success(trusted)
            }
            var address = request.sourceAddress.isEmpty ? "unknown" : request.sourceAddress
            if !request.subnetId.isEmpty { address += " from subnet \(Echo.truncated(request.subnetId))" }
            return .failure(
                StageFailure(
                    innerCode: .forbiddenByFirewall,
                    message:
                        "Client address is not authorized and caller is not a trusted service. Client address: \(address) Caller: \(Caller(claims).azureDescription) Vault: \(displayName)"
                )
            )
        }
    }

    /// The trusted-service bypass (`docs/trusted-services.md`): catalog entries in document order,
    /// modes in the order managedIdentity, subscription, federated; the first match admits.
    func trustedService(_ claims: TokenClaims, operation: Operation) -> Admission? {
        for service in trustedServices {
            for mode in service.modes
            where service.recognises(claims, operation: operation, mode: mode, vaultSubscription: subscriptionId) {
                return Admission(kind: .trustedService, service: service.name, mode: mode)
            }
        }
        return nil
    }
}
