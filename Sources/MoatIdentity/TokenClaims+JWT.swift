internal import MoatCore

extension TokenClaims {
    /// Reads the claims Key Vault's decision uses from a JWT payload (`docs/semantics.md`, "Stage 1: authentication").
    ///
    /// A `null` claim counts as absent. A missing `iss` or `tid` is not malformed: the engine refuses
    /// it as `InvalidIssuer`, the check that owns those claims.
    ///
    /// Strict about types: a claim present with the wrong JSON type makes the token malformed,
    /// naming the claim, rather than being read as absent (an `oid` that is a number must not turn
    /// into "no object id" and match nothing silently). Unknown claims are ignored, as Entra sends
    /// many. One pass over the members: payloads are small, but this runs for every new token.
    convenience init(jwtPayload payload: JSONValue) throws(MalformedToken) {
        guard case .object(let members) = payload else {
            throw MalformedToken("the payload is \(payload.typeName), not a JSON object of claims")
        }
        var issuer = ""
        var tenantId = ""
        var objectId = ""
        var appId: String?
        var authorizedParty: String?
        var audiences: [String] = []
        var expiresAt: Int64?
        var notBefore: Int64?
        var groups: [String] = []
        var hasGroupOverage = false
        var managedIdentityResourceId = ""
        var azureResourceId = ""

        for (name, value) in members {
            if case .null = value { continue }
            switch name {
            case "iss": issuer = try Self.string(value, claim: name)
            case "tid": tenantId = try Self.string(value, claim: name)
            case "oid": objectId = try Self.string(value, claim: name)
            case "appid": appId = try Self.string(value, claim: name)
            case "azp": authorizedParty = try Self.string(value, claim: name)
            case "aud":
                switch value {
                case .string(let audience): audiences = [audience]
                case .array:
                    audiences = try Self.strings(value, claim: name, expected: "a string or an array of strings")
                default:
                    throw MalformedToken("claim 'aud' must be a string or an array of strings, found \(value.typeName)")
                }
            case "exp": expiresAt = try Self.seconds(value, claim: name)
            case "nbf": notBefore = try Self.seconds(value, claim: name)
            case "groups": groups = try Self.strings(value, claim: name, expected: "an array of strings")
            case "_claim_names":
                // Entra's group overage (more than 200 groups): `groups` moves to a Graph link.
                guard case .object = value else {
                    throw MalformedToken("claim '_claim_names' must be an object, found \(value.typeName)")
                }
                if value["groups"] != nil { hasGroupOverage = true }
            case "hasgroups":
                // The implicit-flow form of group overage.
                guard case .bool(let flag) = value else {
                    throw MalformedToken("claim 'hasgroups' must be a boolean, found \(value.typeName)")
                }
                if flag { hasGroupOverage = true }
            case "xms_mirid": managedIdentityResourceId = try Self.string(value, claim: name)
            case "xms_az_rid": azureResourceId = try Self.string(value, claim: name)
            default: continue
            }
        }
        guard let expiresAt else { throw MalformedToken("missing required claim 'exp'") }
        self.init(
            issuer: issuer,
            tenantId: tenantId,
            objectId: objectId,
            // v1 tokens name the client in `appid`, v2 tokens in `azp`.
            applicationId: appId ?? authorizedParty ?? "",
            audiences: audiences,
            expiresAt: expiresAt,
            notBefore: notBefore,
            groups: groups,
            hasGroupOverage: hasGroupOverage,
            managedIdentityResourceId: managedIdentityResourceId,
            azureResourceId: azureResourceId
        )
    }

    private static func string(_ value: JSONValue, claim: String) throws(MalformedToken) -> String {
        guard case .string(let text) = value else {
            throw MalformedToken("claim '\(claim)' must be a string, found \(value.typeName)")
        }
        return text
    }

    private static func strings(_ value: JSONValue, claim: String, expected: String) throws(MalformedToken) -> [String]
    {
        guard case .array(let elements) = value else {
            throw MalformedToken("claim '\(claim)' must be \(expected), found \(value.typeName)")
        }
        var texts: [String] = []
        texts.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            guard case .string(let text) = element else {
                throw MalformedToken(
                    "claim '\(claim)' must be \(expected), found \(element.typeName) at index \(index)"
                )
            }
            texts.append(text)
        }
        return texts
    }

    /// A NumericDate (RFC 7519 section 2): Unix seconds, possibly fractional; floored to whole seconds,
    /// as a token valid "until 1700000000.9" has expired at second 1700000000 plus the skew.
    private static func seconds(_ value: JSONValue, claim: String) throws(MalformedToken) -> Int64 {
        guard case .number(let literal) = value else {
            throw MalformedToken("claim '\(claim)' must be a number (Unix seconds), found \(value.typeName)")
        }
        if let whole = Int64(literal) { return whole }
        guard let number = Double(literal), number.isFinite, let whole = Int64(exactly: number.rounded(.down)) else {
            throw MalformedToken("claim '\(claim)' is out of range: \(Echo.quoted(literal))")
        }
        return whole
    }
}
