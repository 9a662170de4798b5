import MoatCore
import Testing

/// docs/rules.md, "`tenants[]`": where a tenant's keys are kept current, and the JWKS and OpenID
/// configuration documents moatd reads from there.
@Suite("Tenant key sources")
struct KeySourceTests {
    static let tenant = "7a1e5c3d-0000-4000-8000-00000000abcd"

    static func errors(_ tenant: [(String, JSONValue)]) -> [String] {
        let document: JSONValue = .object([("tenants", .array([.object([("id", .string(Self.tenant))] + tenant)]))])
        do {
            _ = try Snapshot(document: document, revision: Revision(sequence: 1, hash: ""))
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    static func source(_ tenant: [(String, JSONValue)]) throws -> KeySource? {
        let document: JSONValue = .object([("tenants", .array([.object([("id", .string(Self.tenant))] + tenant)]))])
        return try Snapshot(document: document, revision: Revision(sequence: 1, hash: "")).tenants[0].source
    }

    @Test("each source is read, instead of or besides jwks")
    func sources() throws {
        let discovery = "https://login.microsoftonline.com/\(Self.tenant)/v2.0/.well-known/openid-configuration"
        #expect(try Self.source([("openIdConfiguration", .string(discovery))]) == .openIdConfiguration(discovery))
        #expect(
            try Self.source([
                ("jwksUri", .string("https://login.microsoftonline.us/x/discovery/v2.0/keys")),
                ("jwks", .object([("keys", .array([]))])),
            ]) == .jwksUri("https://login.microsoftonline.us/x/discovery/v2.0/keys")
        )
        #expect(
            try Self.source([("jwksFile", .string("/var/lib/moat/keys.json"))]) == .jwksFile("/var/lib/moat/keys.json")
        )
        #expect(try Self.source([("jwks", .object([("keys", .array([]))]))]) == nil)
    }

    @Test("non-https URIs, several sources, relative files and no keys at all are refused")
    func refusals() {
        #expect(
            Self.errors([("jwksUri", .string("http://login.microsoftonline.com/x/keys"))]) == [
                "tenants[0].jwksUri: 'http://login.microsoftonline.com/x/keys' is not an https URI: keys are fetched over HTTPS only"
            ]
        )
        #expect(Self.errors([("openIdConfiguration", .string("https:///no-host"))]).count == 1)
        #expect(Self.errors([("jwksUri", .string("https://user@host.example/keys"))]).count == 1)
        #expect(Self.errors([("jwksUri", .string("https://host.example/keys#frag"))]).count == 1)
        #expect(
            Self.errors([("jwksUri", .string("https://a.example/k")), ("jwksFile", .string("/k.json"))]) == [
                "tenants[0].jwksFile: give one of jwksUri, jwksFile, not several"
            ]
        )
        #expect(
            Self.errors([("jwksFile", .string("keys.json"))]) == [
                "tenants[0].jwksFile: 'keys.json' is not an absolute path"
            ]
        )
        #expect(
            Self.errors([]) == [
                "tenants[0].jwks: missing required value: the tenant's signing keys (jwks, or openIdConfiguration, jwksUri or jwksFile)"
            ]
        )
    }

    @Test("a JWKS as Entra publishes it (x5t, x5c, issuer members) is read; every bad key refuses the set")
    func jwks() throws {
        let n = String(repeating: "sXch", count: 86) + "sw"
        let entra = """
            {"keys":[{"kty":"RSA","use":"sig","kid":"k1","x5t":"k1","n":"\(n)","e":"AQAB",
            "x5c":["MIIC..."],"cloud_instance_name":"microsoftonline.com",
            "issuer":"https://login.microsoftonline.com/{tenantid}/v2.0"}]}
            """
        #expect(try JSONWebKeySet.keys(parsing: Array(entra.utf8)).map(\.id) == ["k1"])
        func problems(_ text: String) -> [String] {
            do {
                _ = try JSONWebKeySet.keys(parsing: Array(text.utf8))
                return []
            } catch {
                return error.errors.map(\.description)
            }
        }
        #expect(problems("<html>").first?.hasPrefix("$: JWKS document is not JSON") == true)
        #expect(problems("{}") == ["keys: missing required value: the signing keys"])
        #expect(problems(#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#).count == 1)
        #expect(
            problems(
                #"{"keys":[{"kty":"RSA","kid":"a","n":"\#(n)","e":"AQAB"},{"kty":"RSA","kid":"a","n":"\#(n)","e":"AQAB"}]}"#
            ) == [
                "keys[1].kid: duplicate kid 'a' (also keys[0])"
            ]
        )
        let oversized = "{\"keys\":[" + String(repeating: " ", count: JSONWebKeySet.maximumBytes) + "]}"
        #expect(problems(oversized).first?.contains("at most \(JSONWebKeySet.maximumBytes)") == true)
    }

    @Test("an OpenID configuration gives its jwks_uri, which must be https")
    func openIdConfiguration() throws {
        func read(_ text: String) -> Result<String, DocumentError> {
            Result { () throws(DocumentError) in try OpenIDConfiguration.jwksURI(parsing: Array(text.utf8)) }
        }
        let good =
            #"{"issuer":"https://login.microsoftonline.com/t/v2.0","jwks_uri":"https://login.microsoftonline.com/t/discovery/v2.0/keys"}"#
        #expect(try read(good).get() == "https://login.microsoftonline.com/t/discovery/v2.0/keys")
        for bad in [
            #"{"jwks_uri":"http://x.example/keys"}"#, #"{"issuer":"x"}"#, "[]", "null", "nope", #"{"jwks_uri":7}"#,
        ] {
            guard case .failure(let error) = read(bad) else {
                Issue.record("accepted \(bad)")
                continue
            }
            #expect(!error.errors.isEmpty)
        }
    }
}
