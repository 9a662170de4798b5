/// Where moatd keeps a tenant's signing keys current (`docs/rules.md`, "`tenants[]`"): one of a
/// tenant's `openIdConfiguration`, `jwksUri` or `jwksFile` members.
public enum KeySource: Sendable, Hashable, CustomStringConvertible {
    /// An OpenID configuration document; only its `jwks_uri` is used (never its `issuer`).
    case openIdConfiguration(String)
    /// A JWKS document fetched over HTTPS.
    case jwksUri(String)
    /// A JWKS file on disk that another agent keeps current; watched like the rules file.
    case jwksFile(String)

    /// The document member that names this source.
    public var member: String {
        switch self {
        case .openIdConfiguration: "openIdConfiguration"
        case .jwksUri: "jwksUri"
        case .jwksFile: "jwksFile"
        }
    }

    /// The URI or path.
    public var location: String {
        switch self {
        case .openIdConfiguration(let location), .jwksUri(let location), .jwksFile(let location): location
        }
    }

    /// Whether the keys come over the network (rather than from a file).
    public var isFetched: Bool {
        if case .jwksFile = self { return false }
        return true
    }

    /// `jwksUri https://…`: the member and its value.
    public var description: String { "\(member) \(location)" }

    static let members = ["openIdConfiguration", "jwksUri", "jwksFile"]

    /// The longest URI accepted.
    public static let maximumURILength = 2048

    /// Why `uri` cannot be fetched from, or `nil`: it must be an absolute https URI with a host (no
    /// spaces, user info or fragment). Keys fetched without TLS could be anyone's, so there is no
    /// plain-HTTP exception, for documents, `jwks_uri`s and redirects alike.
    public static func httpsProblem(_ uri: String) -> String? {
        let scheme = "https://"
        guard uri.utf8.count <= maximumURILength else {
            return "URI of \(uri.utf8.count) bytes; at most \(maximumURILength)"
        }
        guard String(uri.prefix(scheme.count)).equalsIgnoringCase(scheme) else {
            return "'\(uri)' is not an https URI: keys are fetched over HTTPS only"
        }
        let authority = uri.dropFirst(scheme.count).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty, !authority.contains("@"), !uri.contains("#"),
            !uri.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f })
        else {
            return "'\(uri)' is not an absolute https URI with a host (no spaces, user info or fragment)"
        }
        return nil
    }
}

/// A JWKS document (RFC 7517 section 5) as Entra publishes it at a tenant's `jwks_uri`, read with the
/// rules of `tenants[].jwks` (`docs/rules.md`): every key must be usable, or the whole set is refused.
public enum JSONWebKeySet {
    /// The largest JWKS document read; Entra's is about 10 KiB.
    public static let maximumBytes = 1 << 20

    /// The keys of a JWKS document; throws every problem, each at its path (`keys[2].n`).
    public static func keys(parsing bytes: some Collection<UInt8>) throws(DocumentError) -> [JSONWebKey] {
        let document = try parse(bytes, what: "JWKS")
        var reader = DocumentReader()
        let keys = reader.jwksKeys(document, .root, required: true)
        if reader.hasErrors { throw DocumentError(errors: reader.errors(orderedBy: document)) }
        return keys
    }

    /// A JSON document of at most `maximumBytes`, or the error naming what it is not.
    static func parse(_ bytes: some Collection<UInt8>, what: String) throws(DocumentError) -> JSONValue {
        guard bytes.count <= maximumBytes else {
            throw DocumentError(errors: [
                ValidationError(path: "$", message: "\(what) document of \(bytes.count) bytes; at most \(maximumBytes)")
            ])
        }
        do {
            return try JSONValue(parsing: bytes)
        } catch {
            throw DocumentError(errors: [ValidationError(path: "$", message: "\(what) document is not JSON: \(error)")])
        }
    }
}

/// An OpenID Provider configuration document (OpenID Connect Discovery 1.0, section 3), of which Moat
/// reads `jwks_uri` only: the `issuer` Entra reports there is its v2 issuer, while Key Vault's tokens
/// are v1, so the `authentication.issuers` templates keep deciding (`docs/rules.md`).
public enum OpenIDConfiguration {
    /// The `jwks_uri` of a configuration document; an https URI, or the error naming what is wrong.
    public static func jwksURI(parsing bytes: some Collection<UInt8>) throws(DocumentError) -> String {
        let document = try JSONWebKeySet.parse(bytes, what: "OpenID configuration")
        var reader = DocumentReader()
        let path = JSONPath.root.appending("jwks_uri")
        let members = reader.object(document, .root)
        if members == nil && !reader.hasErrors { reader.fail(.root, "expected an object, found null") }
        let uri = members.flatMap { reader.httpsURI($0[member: "jwks_uri"], path, required: true) }
        guard let uri, !reader.hasErrors else { throw DocumentError(errors: reader.errors(orderedBy: document)) }
        return uri
    }
}

extension DocumentReader {
    /// A tenant's key source: at most one of `openIdConfiguration`, `jwksUri`, `jwksFile`.
    mutating func keySource(_ tenant: [(key: String, value: JSONValue)], _ path: JSONPath) -> KeySource? {
        let given = KeySource.members.filter { (tenant[member: $0] ?? .null) != .null }
        guard given.count <= 1 else {
            fail(path.appending(given[1]), "give one of \(given.joined(separator: ", ")), not several")
            return nil
        }
        switch given.first {
        case "openIdConfiguration":
            return httpsURI(
                tenant[member: "openIdConfiguration"],
                path.appending("openIdConfiguration"),
                required: true
            )
            .map(KeySource.openIdConfiguration)
        case "jwksUri":
            return httpsURI(tenant[member: "jwksUri"], path.appending("jwksUri"), required: true).map(KeySource.jwksUri)
        case "jwksFile":
            let filePath = path.appending("jwksFile")
            guard let file = string(tenant[member: "jwksFile"], filePath) else { return nil }
            guard file.hasPrefix("/") else {
                fail(filePath, "'\(file)' is not an absolute path")
                return nil
            }
            return .jwksFile(file)
        default:
            return nil
        }
    }

    /// A string that `KeySource.httpsProblem` accepts.
    mutating func httpsURI(_ value: JSONValue?, _ path: JSONPath, required: Bool) -> String? {
        guard let uri = string(value, path) else {
            if required && (value ?? .null) == .null { fail(path, "missing required value") }
            return nil
        }
        if let problem = KeySource.httpsProblem(uri) {
            fail(path, problem)
            return nil
        }
        return uri
    }

    /// The keys of a JWKS object (`{"keys": […]}`), `kid`s unique; `required`: the `keys` member must be there.
    mutating func jwksKeys(_ jwks: JSONValue?, _ path: JSONPath, required: Bool) -> [JSONWebKey] {
        let keysPath = path.appending("keys")
        let members = object(jwks, path)
        if required, members != nil, (members?[member: "keys"] ?? .null) == .null {
            fail(keysPath, "missing required value: the signing keys")
        }
        var keys: [JSONWebKey] = []
        for (keyIndex, key) in (array(members?[member: "keys"], keysPath) ?? []).enumerated() {
            guard let key = jsonWebKey(key, keysPath.appending(keyIndex)) else { continue }
            if let first = keys.first(where: { $0.id == key.id }) {
                fail(keysPath.appending(keyIndex).appending("kid"), "duplicate kid '\(key.id)' (also \(first.path))")
                continue
            }
            keys.append(key)
        }
        return keys
    }
}
