package import MoatCore

/// The parts of an HTTP request to Key Vault that a check reads, as Envoy's ext_authz `CheckRequest`
/// carries them.
package struct KeyVaultHTTPRequest: Sendable, Hashable {
    package var method: String
    /// The request target as sent: path, then an optional query.
    package var path: String
    /// `:authority` (or `host`).
    package var host: String
    /// Header names lowercased (as HTTP/2 and Envoy give them), values as sent.
    package var headers: [String: String]
    /// The address of the TCP peer that connected to Envoy; "" when Envoy gave none (a pipe).
    package var peerAddress: String
    /// The route's `context_extensions` (`moat.vault`, `moat.subnet`, `moat.privateEndpoint`).
    package var contextExtensions: [String: String]

    package init(
        method: String,
        path: String,
        host: String,
        headers: [String: String] = [:],
        peerAddress: String = "",
        contextExtensions: [String: String] = [:]
    ) {
        self.method = method
        self.path = path
        self.host = host
        self.headers = headers
        self.peerAddress = peerAddress
        self.contextExtensions = contextExtensions
    }
}

/// Why a request could not be turned into a check: a 400 `BadParameter`, as Key Vault answers a
/// request it cannot route (`docs/envoy.md`, "Answers").
package struct HTTPMappingError: Error, Sendable, Hashable {
    package let message: String

    package init(_ message: String) {
        self.message = message
    }

    /// The 400 decision, on the snapshot `revision`.
    package func decision(revision: Revision) -> Decision {
        Decision(outcome: .deny, code: .badParameter, stage: .request, message: message, revision: revision)
    }
}

/// From an HTTP request to Key Vault to the check Moat decides (`docs/envoy.md`). Pure.
package struct HTTPCheckMapping: Sendable {
    /// The `context_extensions` keys a route may set.
    package enum Extension {
        package static let vault = "moat.vault"
        package static let subnet = "moat.subnet"
        package static let privateEndpoint = "moat.privateEndpoint"
    }

    package let clientAddress: ClientAddress

    package init(trustedProxies: [IPNetwork] = []) {
        self.clientAddress = ClientAddress(trustedProxies: trustedProxies)
    }

    /// The check `request` asks for, or why it names none.
    package func check(_ request: KeyVaultHTTPRequest) -> Result<CheckRequest, HTTPMappingError> {
        let vault: String
        if let routed = request.contextExtensions[Extension.vault], !routed.isEmpty {
            vault = routed
        } else if let named = VaultHost.vault(request.host) {
            vault = named
        } else {
            return .failure(
                HTTPMappingError(
                    "The host \(Echo.quoted(request.host)) is not a Key Vault host (NAME.vault.azure.net or a sovereign cloud's), and the route sets no \(Extension.vault)."
                )
            )
        }
        let segments: [String]
        switch RequestPath.segments(request.path) {
        case .success(let decoded): segments = decoded
        case .failure(let error): return .failure(error)
        }
        guard let route = KeyVaultRoutes.route(method: request.method, segments: segments) else {
            return .failure(
                HTTPMappingError(
                    "The request \(Echo.quoted(request.method)) \(Echo.quoted(request.path)) is not a Key Vault data-plane operation."
                )
            )
        }
        return .success(
            CheckRequest(
                vault: vault,
                operation: route.operation,
                objectName: KeyVaultRoutes.objectName(route, segments),
                sourceAddress: clientAddress.source(
                    peer: request.peerAddress,
                    forwardedFor: request.headers["x-forwarded-for"]
                ),
                subnetId: request.contextExtensions[Extension.subnet] ?? "",
                privateEndpointId: request.contextExtensions[Extension.privateEndpoint] ?? "",
                token: request.headers["authorization"] ?? "",
                requestId: request.headers["x-request-id"] ?? ""
            )
        )
    }
}
