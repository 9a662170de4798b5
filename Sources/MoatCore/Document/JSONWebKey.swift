/// A public signing key from a tenant's JWKS, checked and decoded when the document is compiled.
public struct JSONWebKey: Sendable, Hashable {
    public enum Material: Sendable, Hashable {
        /// RSA modulus and public exponent, big-endian bytes.
        case rsa(modulus: [UInt8], exponent: [UInt8])
        /// P-256 point coordinates, 32 bytes each.
        case p256(x: [UInt8], y: [UInt8])
    }

    /// `kid`: tokens name the key that signed them.
    public let id: String
    public let material: Material
    /// JSON path of the key in the document, for errors found later (e.g. by a crypto library).
    public let path: String
}

/// The keys that sign tokens for one Entra tenant: those listed in the document, and where moatd
/// keeps more current (`docs/rules.md`, "`tenants[]`").
public struct TenantKeys: Sendable, Hashable {
    /// Lower-case GUID.
    public let tenantId: String
    /// The document's own `jwks.keys`.
    public let keys: [JSONWebKey]
    /// `openIdConfiguration`, `jwksUri` or `jwksFile`; `nil` when the document's keys are all there is.
    public let source: KeySource?

    public init(tenantId: String, keys: [JSONWebKey], source: KeySource? = nil) {
        self.tenantId = tenantId
        self.keys = keys
        self.source = source
    }
}

extension DocumentReader {
    /// Reads `tenants[i].jwks.keys[j]`; reports and returns `nil` for a key that cannot verify tokens.
    mutating func jsonWebKey(_ value: JSONValue, _ path: JSONPath) -> JSONWebKey? {
        guard let members = object(value, path) else {
            if value == .null { fail(path, "expected an object, found null") }
            return nil
        }
        let kty = string(members[member: "kty"], path.appending("kty"))
        let kid = string(members[member: "kid"], path.appending("kid"))
        if kid == nil || kid!.isEmpty { fail(path.appending("kid"), "missing key id: tokens select keys by kid") }
        if let use = string(members[member: "use"], path.appending("use")), use != "sig" {
            fail(path.appending("use"), "'\(use)' key: only signing keys (use \"sig\") verify tokens")
        }
        let alg = string(members[member: "alg"], path.appending("alg"))
        func bytes(_ name: String, count: ClosedRange<Int>? = nil) -> [UInt8]? {
            let fieldPath = path.appending(name)
            guard let text = string(members[member: name], fieldPath) else {
                if members[member: name] == nil || members[member: name] == .null {
                    fail(fieldPath, "missing required value")
                }
                return nil
            }
            guard let decoded = Base64URL.decode(text), !decoded.isEmpty else {
                fail(fieldPath, "not base64url")
                return nil
            }
            if let count, !count.contains(decoded.count) {
                fail(
                    fieldPath,
                    "\(decoded.count) bytes; expected \(count.lowerBound == count.upperBound ? "\(count.lowerBound)" : "\(count.lowerBound) to \(count.upperBound)")"
                )
                return nil
            }
            return decoded
        }
        let material: JSONWebKey.Material?
        switch kty {
        case "RSA":
            if let alg, alg != "RS256" { fail(path.appending("alg"), "'\(alg)': RSA keys verify RS256 tokens only") }
            let modulus = bytes("n").map { Array($0.drop { $0 == 0 }) }
            let exponent = bytes("e", count: 1...8)
            if let modulus {
                let bits = modulus.isEmpty ? 0 : modulus.count * 8 - modulus[0].leadingZeroBitCount
                guard (2048...8192).contains(bits) else {
                    fail(path, "RSA key of \(bits) bits: keys of 2048 to 8192 bits are accepted")
                    return nil
                }
            }
            material = modulus.flatMap { n in exponent.map { .rsa(modulus: n, exponent: $0) } }
        case "EC":
            guard let crv = string(members[member: "crv"], path.appending("crv")) else {
                if (members[member: "crv"] ?? .null) == .null { fail(path.appending("crv"), "missing required value") }
                return nil
            }
            guard crv == "P-256" else {
                fail(path, "EC key on curve '\(crv)': only P-256 keys (ES256) are accepted")
                return nil
            }
            if let alg, alg != "ES256" { fail(path.appending("alg"), "'\(alg)': P-256 keys verify ES256 tokens only") }
            let x = bytes("x", count: 32...32)
            let y = bytes("y", count: 32...32)
            material = x.flatMap { x in y.map { .p256(x: x, y: $0) } }
        case nil:
            if (members[member: "kty"] ?? .null) == .null { fail(path.appending("kty"), "missing required value") }
            material = nil
        case let other?:
            fail(path, "'\(other)' key: only RSA (RS256) and EC P-256 (ES256) public keys verify tokens")
            material = nil
        }
        guard let material, let kid, !kid.isEmpty else { return nil }
        return JSONWebKey(id: kid, material: material, path: path.description)
    }
}
