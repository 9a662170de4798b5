import MoatCore
import Testing

@testable import MoatKeyVaultHTTP

@Suite("Key Vault's denied answers")
struct KeyVaultDeniedResponseTests {
    private let revision = Revision(sequence: 1, hash: "dd00f0a847e83c8d")

    @Test("a firewall deny: 403, Key Vault's JSON error body with its inner code, the network-info header")
    func firewall() {
        let decision = Decision(
            outcome: .deny,
            code: .forbidden,
            innerCode: .forbiddenByFirewall,
            stage: .network,
            message: "Client address is not authorized and caller is not a trusted service.",
            revision: revision
        )
        let answer = KeyVaultDeniedResponse(decision, sourceAddress: "198.51.100.7")
        #expect(answer.status == 403)
        #expect(
            answer.body
                == #"{"error":{"code":"Forbidden","message":"Client address is not authorized and caller is not a trusted service.","innererror":{"code":"ForbiddenByFirewall"}}}"#
        )
        #expect(answer.headers.map(\.name) == ["content-type", "x-ms-keyvault-network-info"])
        #expect(answer.headers[0].value == "application/json; charset=utf-8")
        #expect(answer.headers[1].value == "conn_type=Ipv4;addr=198.51.100.7;act_addr_fam=InterNetwork;")
    }

    @Test("a 401 carries the vault's challenge; a 400 without inner code has no innererror")
    func challengeAndBadParameter() {
        let challenge =
            #"Bearer authorization="https://login.microsoftonline.com/t", resource="https://vault.azure.net""#
        let unauthorized = Decision(
            outcome: .deny,
            code: .unauthorized,
            innerCode: .missingToken,
            stage: .authentication,
            message: "AKV10000: Request is missing a Bearer or PoP token.",
            wwwAuthenticate: challenge,
            revision: revision
        )
        let answer = KeyVaultDeniedResponse(unauthorized, sourceAddress: "2001:db8::1")
        #expect(answer.status == 401)
        #expect(answer.headers.contains { $0.name == "www-authenticate" && $0.value == challenge })
        #expect(
            answer.headers.contains {
                $0.name == "x-ms-keyvault-network-info"
                    && $0.value == "conn_type=Ipv6;addr=2001:db8::1;act_addr_fam=InterNetworkV6;"
            }
        )
        #expect(answer.body.contains(#""innererror":{"code":"MissingToken"}"#))

        let bad = HTTPMappingError("The request \"TRACE\" \"/\" is not a Key Vault data-plane operation.")
        let refused = KeyVaultDeniedResponse(bad.decision(revision: revision), sourceAddress: "")
        #expect(refused.status == 400)
        #expect(
            refused.body
                == #"{"error":{"code":"BadParameter","message":"The request \"TRACE\" \"/\" is not a Key Vault data-plane operation."}}"#
        )
        #expect(refused.headers.map(\.name) == ["content-type"])
    }
}
