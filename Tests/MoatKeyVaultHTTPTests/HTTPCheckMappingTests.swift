import MoatCore
import Testing

@testable import MoatKeyVaultHTTP

@Suite("HTTP request to check")
struct HTTPCheckMappingTests {
    @Test(
        "the vault comes from the host: any Key Vault cloud, port and case ignored",
        arguments: [
            ("contoso.vault.azure.net", "contoso"),
            ("contoso.vault.azure.net:443", "contoso"),
            ("CONTOSO.Vault.Azure.Net", "contoso"),
            ("contoso.vault.azure.net.", "contoso"),
            ("contoso.vault.azure.cn", "contoso"),
            ("contoso.vault.usgovcloudapi.net:8443", "contoso"),
            ("contoso.vault.microsoftazure.de", "contoso"),
        ]
    )
    func hosts(host: String, vault: String) {
        #expect(VaultHost.vault(host) == vault)
    }

    @Test(
        "hosts that are not one vault label and a Key Vault suffix name no vault",
        arguments: [
            "example.com", "vault.azure.net", ".vault.azure.net", "a.b.vault.azure.net", "contoso.vault.azure.net.evil",
            "contoso.vault.azure.com", "", "contoso_x.vault.azure.net", "[::1]:443", "contoso.managedhsm.azure.net",
        ]
    )
    func foreignHosts(host: String) {
        #expect(VaultHost.vault(host) == nil)
    }

    @Test("the route's moat.vault wins over the host; a foreign host without it is a 400 naming the host")
    func contextExtensionVault() throws {
        let mapping = HTTPCheckMapping()
        var request = KeyVaultHTTPRequest(method: "GET", path: "/secrets/s", host: "kv.internal:8080")
        guard case .failure(let error) = mapping.check(request) else {
            Issue.record("a foreign host was mapped")
            return
        }
        #expect(error.message.contains("kv.internal:8080"))
        let decision = error.decision(revision: Revision(sequence: 3, hash: "ab"))
        #expect(decision.code == .badParameter && decision.httpStatus == 400 && decision.stage == .request)
        request.contextExtensions = ["moat.vault": "payments"]
        #expect(try mapping.check(request).get().vault == "payments")
        request.host = "contoso.vault.azure.net"
        #expect(try mapping.check(request).get().vault == "payments")
    }

    @Test("an unknown route is a 400 naming the method and path")
    func unknownRoute() {
        let request = KeyVaultHTTPRequest(method: "TRACE", path: "/secrets/s", host: "c.vault.azure.net")
        guard case .failure(let error) = HTTPCheckMapping().check(request) else {
            Issue.record("TRACE was mapped")
            return
        }
        #expect(error.message.contains("'TRACE'") && error.message.contains("'/secrets/s'"))
    }

    @Test("token, object name, request id, subnet and private endpoint; subnets never from headers")
    func fields() throws {
        let request = KeyVaultHTTPRequest(
            method: "POST",
            path: "/keys/signing-key/v7/sign?api-version=7.5",
            host: "contoso.vault.azure.net",
            headers: [
                "authorization": "Bearer abc.def.ghi", "x-request-id": "r-1",
                "x-moat-subnet": "/subscriptions/s/x",
            ],
            peerAddress: "203.0.113.9",
            contextExtensions: ["moat.subnet": "/subscriptions/S/subnets/a", "moat.privateEndpoint": "/pe/1"]
        )
        let check = try HTTPCheckMapping().check(request).get()
        #expect(
            check
                == CheckRequest(
                    vault: "contoso",
                    operation: .sign,
                    objectName: "signing-key",
                    sourceAddress: "203.0.113.9",
                    subnetId: "/subscriptions/S/subnets/a",
                    privateEndpointId: "/pe/1",
                    token: "Bearer abc.def.ghi",
                    requestId: "r-1"
                )
        )
        var bare = request
        bare.headers = [:]
        bare.contextExtensions = [:]
        let plain = try HTTPCheckMapping().check(bare).get()
        #expect(plain.token.isEmpty && plain.subnetId.isEmpty && plain.privateEndpointId.isEmpty)
    }

    @Test(
        "x-forwarded-for is read only from a trusted proxy: the rightmost entry that is not a trusted proxy",
        arguments: [
            // peer, x-forwarded-for, source
            ("198.51.100.7", "203.0.113.9", "198.51.100.7"),  // untrusted peer: its header is ignored
            ("10.0.0.5", nil, "10.0.0.5"),  // trusted peer without the header: the peer
            ("10.0.0.5", "203.0.113.9", "203.0.113.9"),
            ("10.0.0.5", "1.2.3.4, 203.0.113.9", "203.0.113.9"),  // the client's own entry is left of it
            ("10.0.0.5", "203.0.113.9, 10.0.0.7", "203.0.113.9"),  // a second trusted hop is skipped
            ("10.0.0.5", "203.0.113.9,10.9.9.9 , 10.0.0.7", "203.0.113.9"),
            ("10.0.0.5", "10.0.0.8, 10.0.0.7", "10.0.0.8"),  // all trusted: the leftmost
            ("10.0.0.5", "1.2.3.4, unknown", "unknown"),  // not an address: the engine's 400
            ("10.0.0.5", " , ", "10.0.0.5"),
            ("::ffff:10.0.0.5", "2001:db8::1", "2001:db8::1"),
            ("", "203.0.113.9", ""),  // no peer address (a pipe): nothing to trust
        ]
    )
    func forwardedFor(peer: String, header: String?, source: String) throws {
        let mapping = HTTPCheckMapping(trustedProxies: [try IPNetwork(parsing: "10.0.0.0/8")])
        var request = KeyVaultHTTPRequest(method: "GET", path: "/secrets", host: "c.vault.azure.net", peerAddress: peer)
        if let header { request.headers["x-forwarded-for"] = header }
        #expect(try mapping.check(request).get().sourceAddress == source)
    }

    @Test("without trusted proxies no peer's x-forwarded-for is read")
    func noTrustedProxies() throws {
        let request = KeyVaultHTTPRequest(
            method: "GET",
            path: "/secrets",
            host: "c.vault.azure.net",
            headers: ["x-forwarded-for": "203.0.113.9"],
            peerAddress: "127.0.0.1"
        )
        #expect(try HTTPCheckMapping().check(request).get().sourceAddress == "127.0.0.1")
    }
}
