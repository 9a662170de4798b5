import MoatCore
import MoatKeyVaultHTTP

/// The HTTP-to-check mapping (`docs/envoy.md`) on arbitrary requests. The input's lines are the
/// method, the path, the host, the peer address, then headers (`name: value`).
///
/// Properties: mapping never traps; a mapped request names a vault and a data-plane operation
/// whose template is more specific than every other template the path matches (no path has two
/// operations); a peer outside the trusted proxies is the source whatever `x-forwarded-for` says;
/// and a refusal renders as Key Vault's 400 JSON body carrying the refusal's message.
enum HTTPMappingFuzzing {
    static let mapping = HTTPCheckMapping(trustedProxies: [try! IPNetwork(parsing: "10.0.0.0/8")])

    static func run(_ input: [UInt8]) throws(OracleViolation) {
        let lines = input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard lines.count >= 4 else { return }
        var headers: [String: String] = [:]
        for line in lines.dropFirst(4) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = String(line[line.index(after: colon)...].drop { $0 == " " })
        }
        let request = KeyVaultHTTPRequest(
            method: lines[0],
            path: lines[1],
            host: lines[2],
            headers: headers,
            peerAddress: lines[3]
        )
        switch mapping.check(request) {
        case .success(let check):
            guard !check.vault.isEmpty, let operation = check.operation, !operation.isControlPlane else {
                throw OracleViolation(
                    "mapped to vault \(check.vault.debugDescription), operation \(String(describing: check.operation))"
                )
            }
            guard case .success(let segments) = RequestPath.segments(request.path) else {
                throw OracleViolation("a mapped path does not split: \(request.path.debugDescription)")
            }
            let matching = KeyVaultRoutes.all.filter { $0.method == request.method && $0.matches(segments) }
            guard let winner = matching.first(where: { $0.operation == operation }),
                matching.allSatisfy({ $0 == winner || winner.isMoreSpecific(than: $0) })
            else {
                throw OracleViolation("\(request.method) \(request.path.debugDescription) matches \(matching)")
            }
            if let peer = IPAddress(request.peerAddress),
                !mapping.clientAddress.trustedProxies.contains(where: { $0.contains(peer) }),
                check.sourceAddress != request.peerAddress
            {
                throw OracleViolation("an untrusted peer's x-forwarded-for was read: \(check.sourceAddress)")
            }
        case .failure(let error):
            let answer = KeyVaultDeniedResponse(
                error.decision(revision: Revision(sequence: 1, hash: "0")),
                sourceAddress: request.peerAddress
            )
            let parsed: JSONValue
            do {
                parsed = try JSONValue(parsing: answer.body)
            } catch {
                throw OracleViolation("the 400 body is not JSON: \(answer.body)")
            }
            guard answer.status == 400, parsed["error"]?["message"] == .string(error.message),
                parsed["error"]?["code"] == .string("BadParameter")
            else {
                throw OracleViolation("the refusal renders as \(answer.status) \(answer.body)")
            }
        }
    }
}
