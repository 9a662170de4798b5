import MoatCore
import MoatIdentity

/// A JWKS document as a key server could answer it (`docs/rules.md`, "`tenants[]`"): the parser, the
/// key import, and the state file `moatd` keeps it in (`PersistedKeySet`).
///
/// Properties: reading never traps; a refusal lists at least one error; an accepted set has
/// unique kids, is accepted again from its state file with the same kids, and a state file never
/// carries a set that would be refused.
enum KeySetFuzzing {
    static let tenant = "7a1e5c3d-0000-4000-8000-00000000abcd"

    static func run(_ input: [UInt8]) throws(OracleViolation) {
        let set: TenantKeySet
        do {
            set = try TenantKeySet(tenantId: tenant, jwks: input)
        } catch {
            guard !error.errors.isEmpty else { throw OracleViolation("a refused key set lists no error") }
            return
        }
        guard Set(set.keyIDs).count == set.keyIDs.count, !set.keyIDs.isEmpty else {
            throw OracleViolation("an accepted set has duplicate or no kids: \(set.keyIDs)")
        }
        let source = KeySource.jwksUri("https://keys.example/keys")
        let persisted = PersistedKeySet(
            tenantId: tenant,
            source: source.description,
            fetchedAtUnixMillis: 1,
            etag: "\"e\"",
            jwks: set.jwks
        )
        do {
            guard let reread = try PersistedKeySet(decoding: persisted.encoded()).keySet(from: source) else {
                throw OracleViolation("a state file does not match the source it was written for")
            }
            guard reread.keyIDs == set.keyIDs else {
                throw OracleViolation("the state file gives kids \(reread.keyIDs), not \(set.keyIDs)")
            }
        } catch let violation as OracleViolation {
            throw violation
        } catch {
            throw OracleViolation("an accepted set is refused from its state file: \(error)")
        }
    }
}

/// An OpenID configuration document as a discovery endpoint could answer it: Moat reads `jwks_uri`
/// only (`docs/rules.md`, "`tenants[]`").
///
/// Properties: reading never traps; a refusal lists at least one error; an accepted `jwks_uri` is
/// an https URI that `KeySource.httpsProblem` accepts.
enum OpenIDConfigurationFuzzing {
    static func run(_ input: [UInt8]) throws(OracleViolation) {
        let uri: String
        do {
            uri = try OpenIDConfiguration.jwksURI(parsing: input)
        } catch {
            guard !error.errors.isEmpty else { throw OracleViolation("a refused configuration lists no error") }
            return
        }
        if let problem = KeySource.httpsProblem(uri) {
            throw OracleViolation("accepted jwks_uri '\(uri)' that is refused as a key source: \(problem)")
        }
    }
}
