package import MoatCore

/// What Key Vault itself would answer for a denied request (`docs/envoy.md`, "Answers"): its status,
/// its JSON error body and headers.
package struct KeyVaultDeniedResponse: Sendable {
    package let status: Int
    /// Lowercased names, in the order Moat sends them.
    package let headers: [(name: String, value: String)]
    package let body: String

    package static let contentType = "application/json; charset=utf-8"

    /// The answer to `decision` (a deny) for a request from `sourceAddress`.
    package init(_ decision: Decision, sourceAddress: String) {
        status = decision.httpStatus
        var error: [(key: String, value: JSONValue)] = [
            ("code", .string(decision.code.rawValue)),
            ("message", .string(decision.message)),
        ]
        if let inner = decision.innerCode {
            error.append(("innererror", .object([("code", .string(inner.rawValue))])))
        }
        body = JSONValue.object([("error", .object(error))]).serialized()
        var headers: [(name: String, value: String)] = [("content-type", Self.contentType)]
        if let challenge = decision.wwwAuthenticate {
            headers.append(("www-authenticate", challenge))
        }
        if let networkInfo = Self.networkInfo(sourceAddress) {
            headers.append(("x-ms-keyvault-network-info", networkInfo))
        }
        self.headers = headers
    }

    /// Key Vault's `x-ms-keyvault-network-info` value for a client at `sourceAddress`, `nil` when
    /// it is not an address.
    package static func networkInfo(_ sourceAddress: String) -> String? {
        guard let address = IPAddress(sourceAddress) else { return nil }
        return address.isIPv4
            ? "conn_type=Ipv4;addr=\(address);act_addr_fam=InterNetwork;"
            : "conn_type=Ipv6;addr=\(address);act_addr_fam=InterNetworkV6;"
    }

}
