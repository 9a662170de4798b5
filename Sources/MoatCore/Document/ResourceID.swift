/// An Azure Resource Manager resource id, such as
/// `/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<name>`.
/// Segment names compare case-insensitively, as ARM does.
struct ResourceID: Sendable, Hashable {
    let subscriptionId: String?
    let resourceGroup: String?
    /// `Microsoft.Network/virtualNetworks/subnets` for a subnet id; `nil` above resource level.
    let type: String?
    /// Names of the resource and its parents after the provider namespace, outermost first.
    let names: [String]

    /// Parses an id; `nil` when it is not of ARM's shape.
    init?(_ text: String) {
        guard text.hasPrefix("/") else { return nil }
        let segments = text.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !segments.contains(where: \.isEmpty) else { return nil }
        var i = 0
        func take(_ keyword: String) -> String? {
            guard i + 1 < segments.count, segments[i].equalsIgnoringCase(keyword) else { return nil }
            defer { i += 2 }
            return segments[i + 1]
        }
        subscriptionId = take("subscriptions")
        resourceGroup = subscriptionId == nil ? nil : take("resourceGroups")
        guard i < segments.count else {
            type = nil
            names = []
            return
        }
        guard resourceGroup != nil, segments[i].equalsIgnoringCase("providers"), i + 3 < segments.count else {
            return nil
        }
        var type = segments[i + 1]
        var names: [String] = []
        i += 2
        while i < segments.count {
            guard i + 1 < segments.count else { return nil }
            type += "/" + segments[i]
            names.append(segments[i + 1])
            i += 2
        }
        self.type = type
        self.names = names
    }

    /// Whether this is a subnet id: `.../providers/Microsoft.Network/virtualNetworks/<v>/subnets/<s>`.
    var isSubnet: Bool {
        type?.equalsIgnoringCase("Microsoft.Network/virtualNetworks/subnets") == true
    }
}
