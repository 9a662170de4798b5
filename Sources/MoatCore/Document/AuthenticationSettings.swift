/// How tokens are judged (`docs/semantics.md`, "Stage 1: authentication"), from the document's top-level
/// `authentication` object; the defaults are Azure's public cloud.
public struct AuthenticationSettings: Sendable, Hashable {
    /// Audiences accepted for data-plane operations; compared exactly (a trailing slash is refused).
    public var dataPlaneAudiences = ["https://vault.azure.net", "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"]
    /// Audiences accepted for control-plane operations (ARM tokens).
    public var controlPlaneAudiences = ["https://management.azure.com/", "https://management.core.windows.net/"]
    /// Allowed clock difference for `exp` and `nbf`.
    public var clockSkewSeconds = 300
    /// Accepted issuers; `{tenantId}` stands for the vault's tenant.
    public var issuers = ["https://sts.windows.net/{tenantId}/", "https://login.microsoftonline.com/{tenantId}/v2.0"]
    /// The `authorization` parameter of a 401's challenge.
    public var challengeAuthority = "https://login.microsoftonline.com/{tenantId}"
    /// The `resource` parameter of a 401's challenge.
    public var challengeResource = "https://vault.azure.net"

    public init() {}

    static let placeholder = "{tenantId}"

    func issuers(forTenant tenantId: String) -> [String] {
        issuers.map { $0.replacing(Self.placeholder, with: tenantId) }
    }

    func challenge(forTenant tenantId: String) -> String {
        let authority = challengeAuthority.replacing(Self.placeholder, with: tenantId)
        return "Bearer authorization=\"\(authority)\", resource=\"\(challengeResource)\""
    }
}

extension DocumentReader {
    mutating func authenticationSettings(_ value: JSONValue?, _ path: JSONPath) -> AuthenticationSettings {
        var settings = AuthenticationSettings()
        guard let members = object(value, path) else { return settings }
        let keys = [
            "dataPlaneAudiences", "controlPlaneAudiences", "clockSkewSeconds", "issuers", "challengeAuthority",
            "challengeResource",
        ]
        checkKeys(members, path, known: keys, strict: true)
        /// A non-empty list of strings; each entry's error (and `check`'s) at the entry's own path.
        func strings(_ key: String, check: (String) -> String? = { _ in nil }) -> [String]? {
            let listPath = path.appending(key)
            guard let items = array(members[member: key], listPath) else { return nil }
            if items.isEmpty { fail(listPath, "must list at least one value") }
            var values: [String] = []
            for (index, item) in items.enumerated() {
                guard let value = string(item, listPath.appending(index)) else { continue }
                if let problem = check(value) { fail(listPath.appending(index), problem) }
                values.append(value)
            }
            return values.count == items.count ? values : nil
        }
        if let audiences = strings("dataPlaneAudiences") { settings.dataPlaneAudiences = audiences }
        if let audiences = strings("controlPlaneAudiences") { settings.controlPlaneAudiences = audiences }
        if let issuers = strings(
            "issuers",
            check: { $0.contains(AuthenticationSettings.placeholder) ? nil : "must contain {tenantId}" }
        ) {
            settings.issuers = issuers
        }
        if let skew = integer(members[member: "clockSkewSeconds"], path.appending("clockSkewSeconds"), in: 0...3600) {
            settings.clockSkewSeconds = skew
        }
        if let authority = string(members[member: "challengeAuthority"], path.appending("challengeAuthority")) {
            settings.challengeAuthority = authority
        }
        if let resource = string(members[member: "challengeResource"], path.appending("challengeResource")) {
            settings.challengeResource = resource
        }
        return settings
    }
}
