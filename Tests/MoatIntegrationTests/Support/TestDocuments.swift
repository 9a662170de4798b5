import Foundation
import MoatCore
import MoatIdentity

#if canImport(Glibc)
import Glibc
#endif

/// Rule documents and requests the tests build, and their revision hashes.
///
/// The requests carry an asserted identity instead of a token (no keys, no clock), so the daemons
/// that answer them are started with `asserterArguments`.
enum TestDocuments {
    static let tenant = "a0a0a0a0-0000-4000-8000-00000000000a"
    static let subscription = "5b5b5b5b-0000-4000-8000-000000000001"
    static let alice = "a11ce000-0000-4000-8000-000000000001"
    static let vault = "it-vault"

    /// `moatd` flags making the test process (its uid) a trusted asserter.
    static var asserterArguments: [String] { ["--trusted-asserter-uid", "\(getuid())"] }

    /// One vault that grants alice `secrets/get` by access policy. Its firewall's default action
    /// decides alice's `GetSecret` from 203.0.113.9: `Allow` admits it, `Deny` (no rules that
    /// match) answers 403 ForbiddenByFirewall.
    static func document(
        vault: String = vault,
        defaultAction: String = "Allow",
        ipRules: [String] = [],
        maxIpRules: Int? = nil,
        tag: String? = nil
    ) -> [UInt8] {
        let rules = ipRules.map { "{\"value\": \"\($0)\"}" }.joined(separator: ",\n          ")
        let extensions = maxIpRules.map { ",\n  \"extensions\": {\"maxIpRules\": \($0)}" } ?? ""
        let tags = tag.map { "\n      \"tags\": {\"it\": \"\($0)\"}," } ?? ""
        let text = """
            {
              "tenants": [{"id": "\(tenant)", "jwks": {"keys": []}}],
              "vaults": [
                {
                  "name": "\(vault)",
                  "subscriptionId": "\(subscription)",
                  "resourceGroup": "rg-it",\(tags)
                  "properties": {
                    "tenantId": "\(tenant)",
                    "networkAcls": {
                      "bypass": "None",
                      "defaultAction": "\(defaultAction)",
                      "ipRules": [
                      \(rules)
                      ]
                    },
                    "accessPolicies": [
                      {"tenantId": "\(tenant)", "objectId": "\(alice)", "permissions": {"secrets": ["get"]}}
                    ]
                  }
                }
              ]\(extensions)
            }

            """
        return Array(text.utf8)
    }

    /// The document under which alice's request is allowed.
    static let allowing = document(defaultAction: "Allow")
    /// The document under which alice's request is denied (403 ForbiddenByFirewall).
    static let denying = document(defaultAction: "Deny")

    /// A document that does not validate: its errors are at
    /// `vaults[0].properties.networkAcls.defaultAction` and `vaults[0].properties.accessPolicies[0].objectId`.
    static let invalid: [UInt8] = {
        var text = String(decoding: document(defaultAction: "Sometimes"), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"objectId\": \"\(alice)\"", with: "\"objectId\": \"not-a-guid\"")
        return Array(text.utf8)
    }()

    /// A large document: `count` IP rules (bare public addresses) in one vault, with
    /// `extensions.maxIpRules` raised to hold them; `tag` makes each variant's bytes different.
    static func large(ipRules count: Int, tag: String) -> [UInt8] {
        let rules = (0..<count).map { "20.\($0 >> 16).\(($0 >> 8) & 255).\($0 & 255)" }
        return document(defaultAction: "Deny", ipRules: rules, maxIpRules: count, tag: tag)
    }

    /// alice asks for a secret from a public address, with an asserted identity.
    static func aliceGetsSecret(vault: String = vault) -> CheckRequest {
        var request = CheckRequest()
        request.vault = vault
        request.operation = Operation(name: "GetSecret")
        request.objectName = "db-password"
        request.sourceAddress = "203.0.113.9"
        request.assertedIdentity = AssertedIdentity(oid: alice, tid: tenant)
        return request
    }

    /// The same request as JSON, for `moatctl check --request`.
    static func aliceGetsSecretJSON(vault: String = vault) -> [UInt8] {
        Array(aliceGetsSecret(vault: vault).json.serialized(.pretty).utf8)
    }

    static func hash(_ document: [UInt8]) -> String { RevisionHash.of(document) }
}
