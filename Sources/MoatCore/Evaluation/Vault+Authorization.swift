/// What granted an operation: the decision's `grantedBy` and `required`.
struct Authorization {
    var grant: Grant
    var required: String
}

extension Vault {
    /// Stage 3 (`SEMANTICS.md` section 6).
    func authorize(_ operation: Operation, claims: TokenClaims) -> Result<Authorization, StageFailure> {
        let requirement = operation.requirement
        if enableRbacAuthorization {
            return .failure(StageFailure(
                innerCode: .forbiddenByRbac,
                message: "Caller is not authorized to perform action on resource. Caller: \(Caller(claims).azureDescription) Action: '\(requirement.action)' Vault: \(displayName)",
                required: requirement.action
            ))
        }
        return authorizeByAccessPolicy(requirement, claims: claims)
    }

    /// Access-policy vaults: entries match by the caller's `oid` or groups (no `applicationId`), or
    /// as compound entries by `oid` and `appid`; the union of matching entries' permissions decides,
    /// and the lowest-index entry that grants is reported.
    private func authorizeByAccessPolicy(_ requirement: OperationRequirement, claims: TokenClaims) -> Result<Authorization, StageFailure> {
        var matched = false
        var best: AccessPolicyTable.Entry?
        func consider(_ objectId: String, isCaller: Bool) {
            guard !objectId.isEmpty, let entries = accessPolicies.entriesByObjectId[CaseInsensitiveKey(objectId)] else { return }
            for entry in entries {
                if let applicationId = entry.applicationId {
                    guard isCaller, applicationId.equalsIgnoringCase(claims.applicationId) else { continue }
                }
                matched = true
                if !entry.permissions.isDisjoint(with: requirement.grantingPermissions), best.map({ entry.index < $0.index }) ?? true {
                    best = entry
                }
            }
        }
        consider(claims.objectId, isCaller: true)
        if !claims.hasGroupOverage {
            for group in claims.groups { consider(group, isCaller: false) }
        }
        let permission = requirement.permission!
        if let best {
            return .success(Authorization(
                grant: Grant(kind: .accessPolicy, index: best.index, objectId: best.objectId, applicationId: best.applicationId),
                required: permission.description
            ))
        }
        let caller = Caller(claims).azureDescription
        let overage = claims.hasGroupOverage
            ? " The token reports group overage (more than 200 groups), so group-based access policies were not evaluated."
            : ""
        if matched {
            return .failure(StageFailure(
                innerCode: .forbiddenByPolicy,
                message: "The user, group or application '\(caller)' does not have \(permission.category.name) \(permission.name) permission on key vault '\(displayName)'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287\(overage)",
                required: permission.description
            ))
        }
        return .failure(StageFailure(
            innerCode: .accessDenied,
            message: "Access denied. Caller was not found on any access policy. Caller: \(caller) Vault: \(displayName)\(overage)",
            required: permission.description
        ))
    }
}
