extension Decision {
    /// Whether `other` is this decision to the byte: every field equal, and every string holding
    /// the same UTF-8 bytes, where `==` would also equate canonically equivalent strings ("é" as
    /// U+00E9 and "e" then U+0301) although an answer carries bytes, some the caller's own (a vault
    /// name echoed in a message). Codes, stages and kinds compare with `==`: their raw values are
    /// the library's constants. A field added to `Decision`, `Caller`, `Revision`, `Admission` or
    /// `Grant` belongs here too.
    package func hasSameBytes(as other: Decision) -> Bool {
        outcome == other.outcome && code == other.code && innerCode == other.innerCode && stage == other.stage
            && enableRbacAuthorization == other.enableRbacAuthorization
            && revision.sequence == other.revision.sequence && revision.hash.hasSameBytes(as: other.revision.hash)
            && message.hasSameBytes(as: other.message)
            && both(required, other.required) { $0.hasSameBytes(as: $1) }
            && both(wwwAuthenticate, other.wwwAuthenticate) { $0.hasSameBytes(as: $1) }
            && both(caller, other.caller) { $0.hasSameBytes(as: $1) }
            && both(admittedBy, other.admittedBy) { $0.hasSameBytes(as: $1) }
            && both(grantedBy, other.grantedBy) { $0.hasSameBytes(as: $1) }
    }
}

extension Caller {
    fileprivate func hasSameBytes(as other: Caller) -> Bool {
        objectId.hasSameBytes(as: other.objectId) && applicationId.hasSameBytes(as: other.applicationId)
            && tenantId.hasSameBytes(as: other.tenantId) && issuer.hasSameBytes(as: other.issuer)
    }
}

extension Admission {
    fileprivate func hasSameBytes(as other: Admission) -> Bool {
        kind == other.kind && index == other.index && mode == other.mode
            && both(rule, other.rule) { $0.hasSameBytes(as: $1) }
            && both(service, other.service) { $0.hasSameBytes(as: $1) }
    }
}

extension Grant {
    fileprivate func hasSameBytes(as other: Grant) -> Bool {
        kind == other.kind && index == other.index
            && both(objectId, other.objectId) { $0.hasSameBytes(as: $1) }
            && both(applicationId, other.applicationId) { $0.hasSameBytes(as: $1) }
            && both(id, other.id) { $0.hasSameBytes(as: $1) }
            && both(role, other.role) { $0.hasSameBytes(as: $1) }
            && both(roleDefinitionId, other.roleDefinitionId) { $0.hasSameBytes(as: $1) }
    }
}

/// Both absent, or both present and `same`.
private func both<T>(_ a: T?, _ b: T?, _ same: (T, T) -> Bool) -> Bool {
    switch (a, b) {
    case (nil, nil): true
    case (let a?, let b?): same(a, b)
    default: false
    }
}
