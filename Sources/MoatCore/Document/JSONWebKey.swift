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

/// The keys that sign tokens for one Entra tenant.
public struct TenantKeys: Sendable, Hashable {
    /// Lower-case GUID.
    public let tenantId: String
    public let keys: [JSONWebKey]
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
                fail(fieldPath, "\(decoded.count) bytes; expected \(count.lowerBound == count.upperBound ? "\(count.lowerBound)" : "\(count.lowerBound) to \(count.upperBound)")")
                return nil
            }
            return decoded
        }
        let material: JSONWebKey.Material?
        switch kty {
        case "RSA":
            if let alg, alg != "RS256" { fail(path.appending("alg"), "'\(alg)': RSA keys verify RS256 tokens only") }
            let modulus = bytes("n", count: 256...1024)
            let exponent = bytes("e", count: 1...8)
            material = modulus.flatMap { n in exponent.map { .rsa(modulus: n, exponent: $0) } }
        case "EC":
            if let alg, alg != "ES256" { fail(path.appending("alg"), "'\(alg)': EC keys verify ES256 tokens only") }
            if let crv = string(members[member: "crv"], path.appending("crv")), crv != "P-256" {
                fail(path.appending("crv"), "'\(crv)': only P-256 is supported")
            } else if members[member: "crv"] == nil {
                fail(path.appending("crv"), "missing required value")
            }
            let x = bytes("x", count: 32...32)
            let y = bytes("y", count: 32...32)
            material = x.flatMap { x in y.map { .p256(x: x, y: $0) } }
        case nil:
            fail(path.appending("kty"), "missing required value")
            material = nil
        case let other?:
            fail(path.appending("kty"), "'\(other)': only RSA and EC public keys verify tokens (symmetric keys are refused)")
            material = nil
        }
        guard let material, let kid, !kid.isEmpty else { return nil }
        return JSONWebKey(id: kid, material: material, path: path.description)
    }
}
