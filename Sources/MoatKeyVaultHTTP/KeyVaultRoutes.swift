package import MoatCore

/// Key Vault's data-plane REST paths (REST API reference 7.x) and the operation each one is,
/// documented in `docs/envoy.md`, "From an HTTP request to a check".
///
/// A template is a list of segments, each a literal (compared ignoring ASCII case, as Key Vault
/// does) or a variable. Several templates can match one path (`/secrets/{name}/versions` and
/// `/secrets/{name}/{version}`): the one with a literal at the leftmost position where they differ
/// wins. `KeyVaultRoutesTests` proves that this leaves no path with two operations.
package enum KeyVaultRoutes {
    /// One segment of a template.
    package enum Segment: Sendable, Hashable, CustomStringConvertible {
        /// A fixed word, stored lowercased.
        case literal(String)
        /// The object's name (`{name}`): never empty; it becomes the check's object name.
        case name
        /// Any other variable (`{version}`, `{issuer}`, `{sas}`): may be empty, as the SDKs send
        /// `/secrets/NAME/` and `/keys/NAME//encrypt` for "the current version".
        case variable

        package var description: String {
            switch self {
            case .literal(let word): word
            case .name: "{name}"
            case .variable: "{version}"
            }
        }
    }

    /// A method and path template, and the operation it is.
    package struct Route: Sendable, Hashable, CustomStringConvertible {
        package let method: String
        package let segments: [Segment]
        package let operation: Operation

        init(_ method: String, _ template: String, _ operation: Operation) {
            self.method = method
            self.segments = template.split(separator: "/", omittingEmptySubsequences: true).map { word in
                switch word {
                case "{name}": .name
                case "{version}", "{issuer}", "{sas}": .variable
                default: .literal(word.lowercased())
                }
            }
            self.operation = operation
        }

        package var description: String {
            "\(method) /" + segments.map(\.description).joined(separator: "/")
        }

        /// Whether the decoded `path` segments fit this template.
        package func matches(_ path: [String]) -> Bool {
            guard path.count == segments.count else { return false }
            for (segment, word) in zip(segments, path) {
                switch segment {
                case .literal(let literal):
                    guard CaseInsensitiveKey(word) == CaseInsensitiveKey(literal) else { return false }
                case .name:
                    guard !word.isEmpty else { return false }
                case .variable:
                    continue
                }
            }
            return true
        }

        /// Whether this template wins over `other` on a path both match: at the leftmost position
        /// where one has a literal and the other a variable, this one has the literal.
        package func isMoreSpecific(than other: Route) -> Bool {
            for (mine, theirs) in zip(segments, other.segments) {
                switch (mine, theirs) {
                case (.literal, .name), (.literal, .variable): return true
                case (.name, .literal), (.variable, .literal): return false
                default: continue
                }
            }
            return false
        }
    }

    /// Every data-plane operation of `docs/operations.md` with its templates.
    package static let all: [Route] = [
        // Secrets.
        Route("GET", "/secrets/{name}", .getSecret),
        Route("GET", "/secrets/{name}/{version}", .getSecret),
        Route("GET", "/secrets", .getSecrets),
        Route("GET", "/secrets/{name}/versions", .getSecretVersions),
        Route("PUT", "/secrets/{name}", .setSecret),
        Route("PATCH", "/secrets/{name}", .updateSecret),
        Route("PATCH", "/secrets/{name}/{version}", .updateSecret),
        Route("DELETE", "/secrets/{name}", .deleteSecret),
        Route("POST", "/secrets/{name}/backup", .backupSecret),
        Route("POST", "/secrets/restore", .restoreSecret),
        Route("GET", "/deletedsecrets/{name}", .getDeletedSecret),
        Route("GET", "/deletedsecrets", .getDeletedSecrets),
        Route("POST", "/deletedsecrets/{name}/recover", .recoverDeletedSecret),
        Route("DELETE", "/deletedsecrets/{name}", .purgeDeletedSecret),
        // Keys.
        Route("GET", "/keys/{name}", .getKey),
        Route("GET", "/keys/{name}/{version}", .getKey),
        Route("GET", "/keys", .getKeys),
        Route("GET", "/keys/{name}/versions", .getKeyVersions),
        Route("POST", "/keys/{name}/create", .createKey),
        Route("PUT", "/keys/{name}", .importKey),
        Route("PATCH", "/keys/{name}", .updateKey),
        Route("PATCH", "/keys/{name}/{version}", .updateKey),
        Route("DELETE", "/keys/{name}", .deleteKey),
        Route("POST", "/keys/{name}/backup", .backupKey),
        Route("POST", "/keys/restore", .restoreKey),
        Route("GET", "/deletedkeys/{name}", .getDeletedKey),
        Route("GET", "/deletedkeys", .getDeletedKeys),
        Route("POST", "/deletedkeys/{name}/recover", .recoverDeletedKey),
        Route("DELETE", "/deletedkeys/{name}", .purgeDeletedKey),
        Route("POST", "/keys/{name}/{version}/encrypt", .encrypt),
        Route("POST", "/keys/{name}/encrypt", .encrypt),
        Route("POST", "/keys/{name}/{version}/decrypt", .decrypt),
        Route("POST", "/keys/{name}/decrypt", .decrypt),
        Route("POST", "/keys/{name}/{version}/sign", .sign),
        Route("POST", "/keys/{name}/sign", .sign),
        Route("POST", "/keys/{name}/{version}/verify", .verify),
        Route("POST", "/keys/{name}/verify", .verify),
        Route("POST", "/keys/{name}/{version}/wrapkey", .wrapKey),
        Route("POST", "/keys/{name}/wrapkey", .wrapKey),
        Route("POST", "/keys/{name}/{version}/unwrapkey", .unwrapKey),
        Route("POST", "/keys/{name}/unwrapkey", .unwrapKey),
        Route("POST", "/keys/{name}/{version}/release", .release),
        Route("POST", "/keys/{name}/release", .release),
        Route("POST", "/keys/{name}/rotate", .rotateKey),
        Route("GET", "/keys/{name}/rotationpolicy", .getKeyRotationPolicy),
        Route("PUT", "/keys/{name}/rotationpolicy", .updateKeyRotationPolicy),
        // Certificates.
        Route("GET", "/certificates/{name}", .getCertificate),
        Route("GET", "/certificates/{name}/{version}", .getCertificate),
        Route("GET", "/certificates", .getCertificates),
        Route("GET", "/certificates/{name}/versions", .getCertificateVersions),
        Route("GET", "/certificates/{name}/policy", .getCertificatePolicy),
        Route("PATCH", "/certificates/{name}/policy", .updateCertificatePolicy),
        Route("POST", "/certificates/{name}/create", .createCertificate),
        Route("POST", "/certificates/{name}/import", .importCertificate),
        Route("PATCH", "/certificates/{name}", .updateCertificate),
        Route("PATCH", "/certificates/{name}/{version}", .updateCertificate),
        Route("POST", "/certificates/{name}/pending/merge", .mergeCertificate),
        Route("DELETE", "/certificates/{name}", .deleteCertificate),
        Route("GET", "/certificates/{name}/pending", .getCertificateOperation),
        Route("PATCH", "/certificates/{name}/pending", .updateCertificateOperation),
        Route("DELETE", "/certificates/{name}/pending", .deleteCertificateOperation),
        Route("POST", "/certificates/{name}/backup", .backupCertificate),
        Route("POST", "/certificates/restore", .restoreCertificate),
        Route("GET", "/deletedcertificates/{name}", .getDeletedCertificate),
        Route("GET", "/deletedcertificates", .getDeletedCertificates),
        Route("POST", "/deletedcertificates/{name}/recover", .recoverDeletedCertificate),
        Route("DELETE", "/deletedcertificates/{name}", .purgeDeletedCertificate),
        Route("GET", "/certificates/contacts", .getCertificateContacts),
        Route("PUT", "/certificates/contacts", .setCertificateContacts),
        Route("DELETE", "/certificates/contacts", .deleteCertificateContacts),
        Route("GET", "/certificates/issuers/{issuer}", .getCertificateIssuer),
        Route("GET", "/certificates/issuers", .getCertificateIssuers),
        Route("PUT", "/certificates/issuers/{issuer}", .setCertificateIssuer),
        Route("PATCH", "/certificates/issuers/{issuer}", .updateCertificateIssuer),
        Route("DELETE", "/certificates/issuers/{issuer}", .deleteCertificateIssuer),
        // Managed storage accounts.
        Route("GET", "/storage/{name}", .getStorageAccount),
        Route("GET", "/storage", .getStorageAccounts),
        Route("PUT", "/storage/{name}", .setStorageAccount),
        Route("PATCH", "/storage/{name}", .updateStorageAccount),
        Route("DELETE", "/storage/{name}", .deleteStorageAccount),
        Route("POST", "/storage/{name}/regeneratekey", .regenerateStorageAccountKey),
        Route("POST", "/storage/{name}/backup", .backupStorageAccount),
        Route("POST", "/storage/restore", .restoreStorageAccount),
        Route("GET", "/deletedstorage/{name}", .getDeletedStorageAccount),
        Route("GET", "/deletedstorage", .getDeletedStorageAccounts),
        Route("POST", "/deletedstorage/{name}/recover", .recoverDeletedStorageAccount),
        Route("DELETE", "/deletedstorage/{name}", .purgeDeletedStorageAccount),
        Route("GET", "/storage/{name}/sas/{sas}", .getSasDefinition),
        Route("GET", "/storage/{name}/sas", .getSasDefinitions),
        Route("PUT", "/storage/{name}/sas/{sas}", .setSasDefinition),
        Route("PATCH", "/storage/{name}/sas/{sas}", .updateSasDefinition),
        Route("DELETE", "/storage/{name}/sas/{sas}", .deleteSasDefinition),
        Route("GET", "/deletedstorage/{name}/sas/{sas}", .getDeletedSasDefinition),
        Route("GET", "/deletedstorage/{name}/sas", .getDeletedSasDefinitions),
        Route("POST", "/deletedstorage/{name}/sas/{sas}/recover", .recoverDeletedSasDefinition),
    ]

    /// The templates of each method, for matching.
    private static let byMethod: [String: [Route]] = Dictionary(grouping: all, by: \.method)

    /// The template that `method` and the decoded `segments` are, or `nil` when none fits.
    /// The method is compared exactly (HTTP methods are case-sensitive).
    package static func route(method: String, segments: [String]) -> Route? {
        var best: Route?
        for route in byMethod[method, default: []] where route.matches(segments) {
            if let current = best, !route.isMoreSpecific(than: current) { continue }
            best = route
        }
        return best
    }

    /// The object name a matched template names, or "" for one without `{name}`.
    package static func objectName(_ route: Route, _ segments: [String]) -> String {
        guard let index = route.segments.firstIndex(of: .name) else { return "" }
        return segments[index]
    }
}
