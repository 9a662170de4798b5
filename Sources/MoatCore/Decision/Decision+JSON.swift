extension Decision {
    /// The decision JSON of README.md, "Requests and decisions": every field present, `null` where not applicable.
    public var json: JSONValue {
        .object([
            ("decision", .string(outcome == .allow ? "ALLOW" : "DENY")),
            ("httpStatus", .number(String(httpStatus))),
            ("code", .string(code.rawValue)),
            ("innerCode", Self.text(innerCode?.rawValue)),
            ("stage", .string(stage.rawValue)),
            ("message", .string(message)),
            ("admittedBy", admittedBy.map(\.json) ?? .null),
            ("grantedBy", grantedBy.map(\.json) ?? .null),
            ("required", Self.text(required)),
            ("wwwAuthenticate", Self.text(wwwAuthenticate)),
            ("revision", revision.json),
        ])
    }

    static func text(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }

    static func number(_ value: Int?) -> JSONValue { value.map { .number(String($0)) } ?? .null }
}

extension Revision {
    /// `{"sequence": N, "hash": "…"}`, as in the decision JSON.
    public var json: JSONValue {
        .object([("sequence", .number(String(sequence))), ("hash", .string(hash))])
    }
}

extension Admission {
    public var json: JSONValue {
        .object([
            ("kind", .string(kind.rawValue)),
            ("index", Decision.number(index)),
            ("rule", Decision.text(rule)),
            ("service", Decision.text(service)),
            ("mode", Decision.text(mode?.rawValue)),
        ])
    }
}

extension Grant {
    public var json: JSONValue {
        .object([
            ("kind", .string(kind.rawValue)),
            ("index", Decision.number(index)),
            ("objectId", Decision.text(objectId)),
            ("applicationId", Decision.text(applicationId)),
            ("id", Decision.text(id)),
            ("role", Decision.text(role)),
            ("roleDefinitionId", Decision.text(roleDefinitionId)),
        ])
    }
}
