/// What granted an operation: the decision's `grantedBy` and `required`.
struct Authorization {
    var grant: Grant
    var required: String
}

extension Vault {
    /// Stage 3 (`docs/semantics.md`, "Stage 3: authorization"): role assignments for RBAC vaults and for every
    /// control-plane operation, access policies otherwise.
    func authorize(
        _ operation: Operation,
        objectName: String,
        claims: TokenClaims
    ) -> Result<Authorization, StageFailure> {
        let requirement = operation.requirement
        if enableRbacAuthorization || operation.isControlPlane {
            return authorizeByRoleAssignment(operation, objectName: objectName, claims: claims)
        }
        return authorizeByAccessPolicy(requirement, claims: claims)
    }

    /// Role assignments whose role grants the action, at the vault, above it, or at the request's
    /// object; the narrowest granting scope is reported, lowest index among equals.
    ///
    /// An operation on the vault (a listing, deleted items, contacts…) is evaluated at vault scope
    /// whatever `objectName` the request carries, so object-scoped assignments never grant it.
    private func authorizeByRoleAssignment(
        _ operation: Operation,
        objectName requested: String,
        claims: TokenClaims
    ) -> Result<Authorization, StageFailure> {
        let objectName = operation.actsOnOneObject ? requested : ""
        let requirement = operation.requirement
        let category = requirement.permission?.category
        var best: RoleGrant?
        // The caller, then its groups (not under group overage); a plain loop keeps `best` on the stack.
        let principals = claims.hasGroupOverage ? 0 : claims.groups.count
        for position in 0...principals {
            let principalId = position == 0 ? claims.objectId : claims.groups[position - 1]
            guard !principalId.isEmpty, let grants = roleGrants.grantsByPrincipal[CaseInsensitiveKey(principalId)]
            else { continue }
            for grant in grants where grant.actions.contains(requirement.actionBit) {
                if let object = grant.object {
                    guard object.category == category, !objectName.isEmpty, object.name.equalsIgnoringCase(objectName)
                    else { continue }
                }
                if let current = best,
                    current.depth > grant.depth || (current.depth == grant.depth && current.index < grant.index)
                {
                    continue
                }
                best = grant
            }
        }
        if let best {
            return .success(
                Authorization(
                    grant: Grant(
                        kind: .roleAssignment,
                        index: best.index,
                        id: best.id,
                        role: best.roleName,
                        roleDefinitionId: best.roleId
                    ),
                    required: requirement.action
                )
            )
        }
        var resource = resourceId
        if let category, !objectName.isEmpty {
            resource += "/\(category.name)/\(Echo.truncated(objectName))"
        }
        let overage =
            claims.hasGroupOverage
            ? " The token reports group overage (more than 200 groups), so group-based role assignments were not evaluated."
            : ""
        return .failure(
            StageFailure(
                innerCode: .forbiddenByRbac,
                message:
                    "Caller is not authorized to perform action on resource. If role assignments, deny assignments or role definitions were changed recently, please observe propagation time. Caller: \(Caller(claims).azureDescription) Action: '\(requirement.action)' Resource: '\(resource)' Assignment: (not found) DenyAssignmentId: null DecisionReason: 'DeniedWithNoValidRBAC' Vault: \(displayName)\(overage)",
                required: requirement.action
            )
        )
    }

    /// Access-policy vaults: entries match by the caller's `oid` or groups (no `applicationId`), or
    /// as compound entries by `oid` and `appid`; the union of matching entries' permissions decides,
    /// and the lowest-index entry that grants is reported.
    private func authorizeByAccessPolicy(
        _ requirement: OperationRequirement,
        claims: TokenClaims
    ) -> Result<Authorization, StageFailure> {
        var matched = false
        var best: AccessPolicyTable.Entry?
        // The caller, then its groups (not under group overage); compound entries match the caller only.
        let principals = claims.hasGroupOverage ? 0 : claims.groups.count
        for position in 0...principals {
            let objectId = position == 0 ? claims.objectId : claims.groups[position - 1]
            guard !objectId.isEmpty, let entries = accessPolicies.entriesByObjectId[CaseInsensitiveKey(objectId)] else {
                continue
            }
            for entry in entries {
                if let applicationId = entry.applicationId {
                    guard position == 0, applicationId.equalsIgnoringCase(claims.applicationId) else { continue }
                }
                matched = true
                if !entry.permissions.isDisjoint(with: requirement.grantingPermissions),
                    best.map({ entry.index < $0.index }) ?? true
                {
                    best = entry
                }
            }
        }
        let permission = requirement.permission!
        if let best {
            return .success(
                Authorization(
                    grant: Grant(
                        kind: .accessPolicy,
                        index: best.index,
                        objectId: best.objectId,
                        applicationId: best.applicationId
                    ),
                    required: requirement.permissionText
                )
            )
        }
        let caller = Caller(claims).azureDescription
        let overage =
            claims.hasGroupOverage
            ? " The token reports group overage (more than 200 groups), so group-based access policies were not evaluated."
            : ""
        if matched {
            return .failure(
                StageFailure(
                    innerCode: .forbiddenByPolicy,
                    message:
                        "The user, group or application '\(caller)' does not have \(permission.category.name) \(permission.name) permission on key vault '\(displayName)'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287\(overage)",
                    required: requirement.permissionText
                )
            )
        }
        return .failure(
            StageFailure(
                innerCode: .accessDenied,
                message:
                    "Access denied. Caller was not found on any access policy. Caller: \(caller) Vault: \(displayName)\(overage)",
                required: requirement.permissionText
            )
        )
    }
}
