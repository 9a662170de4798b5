import MoatCore

extension Decision {
    /// A readable stage-by-stage account of the decision (`moatctl eval|check --explain`): which
    /// stages passed, what admitted the source and granted the permission, or where and why it
    /// was refused.
    func explanation(for request: CheckRequest) -> String {
        let stages: [Stage] = [.request, .vault, .authentication, .network, .authorization]
        let decidingIndex = stages.firstIndex(of: stage) ?? stages.count
        var lines: [(String, String)] = []
        for (index, current) in stages.enumerated() {
            let text: String
            if index < decidingIndex {
                text = passed(current, request: request)
            } else if index == decidingIndex {
                text =
                    "REFUSED \(innerCode.map { "(\($0.rawValue))" } ?? "(\(code.rawValue))"): \(message)"
                    + (required.map { "\n  needed: \($0)" } ?? "")
            } else {
                text = "not reached"
            }
            lines.append((current.rawValue, text))
        }
        let verdict = outcome == .allow ? "ALLOW" : "DENY"
        lines.append(("Result", "\(verdict) (\(httpStatus) \(code.rawValue)) on revision \(revision)"))
        if let wwwAuthenticate { lines.append(("Challenge", "WWW-Authenticate: \(wwwAuthenticate)")) }
        let width = lines.map(\.0.count).max()! + 2
        return lines.map { label, text in
            label + String(repeating: " ", count: width - label.count)
                + text.replacing("\n", with: "\n" + String(repeating: " ", count: width))
        }.joined(separator: "\n")
    }

    /// What a stage that passed reports. Codes and kinds are extensible (a newer MoatCore may add
    /// one), so each switch has a general answer.
    private func passed(_ stage: Stage, request: CheckRequest) -> String {
        switch stage {
        case .request:
            let operation =
                request.operation.map { "\($0.name) (\($0.isControlPlane ? "control plane" : "data plane"))" } ?? "?"
            var parts = [operation]
            if !request.objectName.isEmpty { parts.append("object \(request.objectName)") }
            if !request.sourceAddress.isEmpty { parts.append("from \(request.sourceAddress)") }
            if !request.subnetId.isEmpty { parts.append("via subnet \(request.subnetId)") }
            if !request.privateEndpointId.isEmpty { parts.append("via private endpoint \(request.privateEndpointId)") }
            return "ok: " + parts.joined(separator: ", ")
        case .vault:
            return "ok: \(request.vault) found"
        case .authentication:
            let who =
                caller.map { "appid=\($0.applicationId);oid=\($0.objectId);tid=\($0.tenantId);iss=\($0.issuer)" } ?? "?"
            return "ok: \(request.token.isEmpty ? "asserted identity" : "token verified"): \(who)"
        case .network:
            guard let admittedBy else { return "ok" }
            switch admittedBy.kind {
            case .privateEndpoint: return "admitted by approved private endpoint \(admittedBy.rule ?? "")"
            case .defaultAllow: return "admitted: public network access with default action Allow"
            case .ipRule: return "admitted by IP rule \(admittedBy.index ?? 0) (\(admittedBy.rule ?? ""))"
            case .virtualNetworkRule:
                return "admitted by virtual network rule \(admittedBy.index ?? 0) (\(admittedBy.rule ?? ""))"
            case .trustedService:
                return
                    "admitted as trusted service \(admittedBy.service ?? "") (\(admittedBy.mode?.rawValue ?? "") mode)"
            case .perimeter: return "admitted by the network security perimeter (\(admittedBy.rule ?? ""))"
            case .notApplicable: return "not applicable: control-plane operation"
            default: return "admitted (\(admittedBy.kind.rawValue))"
            }
        case .authorization:
            guard let grantedBy else { return "ok" }
            let permission = required.map { ": \($0)" } ?? ""
            switch grantedBy.kind {
            case .accessPolicy:
                let application = grantedBy.applicationId.map { ", applicationId \($0)" } ?? ""
                return
                    "granted by access policy \(grantedBy.index ?? 0) (objectId \(grantedBy.objectId ?? "")\(application))\(permission)"
            case .roleAssignment:
                return
                    "granted by role assignment \(grantedBy.id ?? "#\(grantedBy.index ?? 0)") (\(grantedBy.role ?? ""))\(permission)"
            default:
                return "granted (\(grantedBy.kind.rawValue))\(permission)"
            }
        default:
            return "ok"
        }
    }
}
