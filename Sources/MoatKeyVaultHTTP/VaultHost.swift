/// The vault a request's host names (`docs/envoy.md`, "Vault"): `NAME.vault.azure.net` or one
/// of the sovereign clouds' suffixes, compared ignoring case, with any port and one trailing dot
/// dropped.
package enum VaultHost {
    /// Key Vault's DNS suffixes: public Azure, Azure China, Azure US Government, Azure Germany.
    package static let suffixes = [
        ".vault.azure.net", ".vault.azure.cn", ".vault.usgovcloudapi.net", ".vault.microsoftazure.de",
    ]

    /// The vault name in `host` (`contoso.vault.azure.net:443` → `contoso`), or `nil` when the host
    /// is not one label followed by a Key Vault suffix.
    package static func vault(_ host: String) -> String? {
        var name = Substring(host)
        if let colon = name.lastIndex(of: ":"), name[name.index(after: colon)...].allSatisfy(\.isWholeNumber) {
            name = name[..<colon]
        }
        if name.hasSuffix(".") { name = name.dropLast() }
        let lowered = name.lowercased()
        for suffix in suffixes where lowered.hasSuffix(suffix) {
            let label = lowered.dropLast(suffix.count)
            guard !label.isEmpty, !label.contains("."), label.utf8.allSatisfy(isLabelByte) else { return nil }
            return String(label)
        }
        return nil
    }

    /// Letters, digits and `-`, as DNS labels (and vault names) are made of.
    private static func isLabelByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"): true
        default: false
        }
    }
}
