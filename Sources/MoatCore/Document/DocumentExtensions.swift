/// Opt-in departures from Azure's validation, from the document's top-level `extensions` object.
/// Without it a document is validated exactly as Azure would (`docs/rules.md`).
public struct DocumentExtensions: Sendable, Hashable {
    /// Accept IP rules inside (or overlapping) the RFC 1918 ranges.
    public var allowPrivateIpRules = false
    /// Accept IPv6 IP rules.
    public var allowIpv6Rules = false
    public var maxIpRules = 1000
    public var maxVirtualNetworkRules = 200
    public var maxAccessPolicies = 1024

    public init() {}
}

extension DocumentReader {
    mutating func documentExtensions(_ value: JSONValue?, _ path: JSONPath) -> DocumentExtensions {
        var extensions = DocumentExtensions()
        guard let members = object(value, path) else { return extensions }
        let keys = [
            "allowPrivateIpRules", "allowIpv6Rules", "maxIpRules", "maxVirtualNetworkRules", "maxAccessPolicies",
        ]
        checkKeys(members, path, known: keys, strict: true)
        if let flag = bool(members[member: "allowPrivateIpRules"], path.appending("allowPrivateIpRules")) {
            extensions.allowPrivateIpRules = flag
        }
        if let flag = bool(members[member: "allowIpv6Rules"], path.appending("allowIpv6Rules")) {
            extensions.allowIpv6Rules = flag
        }
        let limit = 1...1_000_000
        if let value = integer(members[member: "maxIpRules"], path.appending("maxIpRules"), in: limit) {
            extensions.maxIpRules = value
        }
        if let value = integer(
            members[member: "maxVirtualNetworkRules"],
            path.appending("maxVirtualNetworkRules"),
            in: limit
        ) {
            extensions.maxVirtualNetworkRules = value
        }
        if let value = integer(members[member: "maxAccessPolicies"], path.appending("maxAccessPolicies"), in: limit) {
            extensions.maxAccessPolicies = value
        }
        return extensions
    }
}
