import Foundation
import MoatCore
import Testing

@testable import MoatKeyVaultHTTP

@Suite("Key Vault routes")
struct KeyVaultRoutesTests {
    private func operation(_ method: String, _ path: String) -> MoatCore.Operation? {
        guard case .success(let segments) = RequestPath.segments(path) else { return nil }
        return KeyVaultRoutes.route(method: method, segments: segments)?.operation
    }

    @Test("every data-plane operation of docs/operations.md has at least one method and path template")
    func everyOperationRouted() {
        let routed = Set(KeyVaultRoutes.all.map(\.operation))
        for operation in MoatCore.Operation.allCases where !operation.isControlPlane {
            #expect(routed.contains(operation), "\(operation.name) has no template")
        }
        #expect(!routed.contains { $0.isControlPlane })
    }

    @Test("no request path matches two operations: overlapping templates are ordered by their leftmost literal")
    func noPathMatchesTwoOperations() {
        let routes = KeyVaultRoutes.all
        for (i, a) in routes.enumerated() {
            for b in routes[(i + 1)...] where a.method == b.method && a.segments.count == b.segments.count {
                // Two literals that differ at one position: no path matches both.
                let disjoint = zip(a.segments, b.segments).contains {
                    if case .literal(let x) = $0, case .literal(let y) = $1 { return x != y }
                    return false
                }
                if disjoint { continue }
                // Otherwise exactly one of them wins wherever both match.
                #expect(
                    a.isMoreSpecific(than: b) != b.isMoreSpecific(than: a),
                    "\(a) and \(b) match the same paths and neither wins"
                )
            }
        }
        // And on concrete paths: each template's variables filled with a name and with every word
        // another template has at that position; the winner is more specific than every other match.
        for route in routes {
            let fillers = route.segments.indices.map { index -> [String] in
                guard case .literal(let word) = route.segments[index] else {
                    let others = routes.compactMap { other -> String? in
                        guard other.segments.count > index, case .literal(let w) = other.segments[index] else {
                            return nil
                        }
                        return w
                    }
                    return ["n1"] + others
                }
                return [word]
            }
            var paths: [[String]] = [[]]
            for options in fillers { paths = paths.flatMap { prefix in options.map { prefix + [$0] } } }
            for path in paths {
                let matches = routes.filter { $0.method == route.method && $0.matches(path) }
                let best = KeyVaultRoutes.route(method: route.method, segments: path)
                #expect(best != nil)
                for other in matches where other != best {
                    #expect(best!.isMoreSpecific(than: other), "/\(path.joined(separator: "/")): \(best!) vs \(other)")
                }
            }
        }
    }

    @Test(
        "the issue's and Key Vault's templates, with literal segments winning over variables",
        arguments: [
            ("GET", "/secrets/db-password", MoatCore.Operation.getSecret),
            ("GET", "/secrets/db-password/0123456789abcdef", .getSecret),
            ("GET", "/secrets", .getSecrets),
            ("GET", "/secrets/db-password/versions", .getSecretVersions),
            ("PUT", "/secrets/db-password", .setSecret),
            ("PATCH", "/secrets/db-password/v1", .updateSecret),
            ("POST", "/secrets/restore", .restoreSecret),
            ("POST", "/keys/k1/v1/wrapkey", .wrapKey),
            ("POST", "/keys/k1/create", .createKey),
            ("GET", "/keys/k1/rotationpolicy", .getKeyRotationPolicy),
            ("PUT", "/keys/k1/rotationpolicy", .updateKeyRotationPolicy),
            ("GET", "/deletedsecrets/db-password", .getDeletedSecret),
            ("POST", "/deletedkeys/k1/recover", .recoverDeletedKey),
            ("GET", "/certificates/contacts", .getCertificateContacts),
            ("GET", "/certificates/issuers", .getCertificateIssuers),
            ("GET", "/certificates/issuers/digicert", .getCertificateIssuer),
            ("GET", "/certificates/issuers/versions", .getCertificateIssuer),
            ("GET", "/certificates/c1/policy", .getCertificatePolicy),
            ("GET", "/certificates/c1/pending", .getCertificateOperation),
            ("POST", "/certificates/c1/pending/merge", .mergeCertificate),
            ("GET", "/certificates/c1/v1", .getCertificate),
            ("DELETE", "/storage/acct/sas/def", .deleteSasDefinition),
            ("POST", "/deletedstorage/acct/sas/def/recover", .recoverDeletedSasDefinition),
        ]
    )
    func templates(method: String, path: String, expected: MoatCore.Operation) {
        #expect(operation(method, path) == expected)
    }

    @Test(
        "what the SDKs send: empty versions, versionless key operations, paging, any case, a trailing slash",
        arguments: [
            ("GET", "/secrets/NAME/", MoatCore.Operation.getSecret),
            ("GET", "/secrets/NAME/?api-version=7.4", .getSecret),
            ("POST", "/keys/NAME//encrypt", .encrypt),
            ("POST", "/keys/NAME/wrapKey", .wrapKey),
            ("POST", "/keys/NAME/UnwrapKey?api-version=7.5", .unwrapKey),
            ("GET", "/secrets?api-version=7.4&maxresults=25&$skiptoken=eyJOZXh0TWFya2VyIjoiMiJ9", .getSecrets),
            ("GET", "/Secrets/NAME/Versions", .getSecretVersions),
            ("GET", "/DELETEDSECRETS", .getDeletedSecrets),
            ("GET", "/secrets/", .getSecrets),
            ("GET", "/certificates/Contacts", .getCertificateContacts),
        ]
    )
    func sdkVariants(method: String, path: String, expected: MoatCore.Operation) {
        #expect(operation(method, path) == expected)
    }

    @Test(
        "unknown paths and methods match nothing",
        arguments: [
            ("GET", "/"), ("GET", ""), ("GET", "/secret/x"), ("GET", "/secrets//versions"), ("POST", "/secrets/x"),
            ("get", "/secrets/x"), ("GET", "/secrets/x/y/z"), ("HEAD", "/secrets"), ("GET", "secrets/x"),
            ("POST", "/keys//encrypt"),
        ]
    )
    func unknown(method: String, path: String) {
        #expect(operation(method, path) == nil)
    }

    @Test("the path is split first, then each segment is percent-decoded once")
    func percentDecoding() throws {
        #expect(try RequestPath.segments("/secrets/a%2Fb").get() == ["secrets", "a/b"])
        #expect(try RequestPath.segments("/secrets/%2541").get() == ["secrets", "%41"])
        #expect(try RequestPath.segments("/%73ecrets/x%20y").get() == ["secrets", "x y"])
        #expect(try RequestPath.segments("/secrets/caf%C3%A9").get() == ["secrets", "café"])
        for bad in ["/secrets/%", "/secrets/%4", "/secrets/%G1", "/secrets/%FF", "secrets"] {
            #expect(throws: HTTPMappingError.self, "\(bad)") { try RequestPath.segments(bad).get() }
        }
        let mapped = HTTPCheckMapping().check(
            KeyVaultHTTPRequest(method: "GET", path: "/secrets/a%2Fb/versions", host: "v.vault.azure.net")
        )
        #expect(try mapped.get().objectName == "a/b")
        #expect(try mapped.get().operation == .getSecretVersions)
    }
}

@Suite("docs/envoy.md")
struct EnvoyDocumentationTests {
    @Test("the operation table lists exactly the templates the mapping uses")
    func operationTable() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/envoy.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        var documented: [String] = []
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 2, let operation = MoatCore.Operation(name: cells[0].trimmingCharacters(in: ["`"]))
            else {
                continue
            }
            for template in cells[1].split(separator: ",") {
                documented.append(
                    "\(operation.name) \(template.trimmingCharacters(in: CharacterSet(charactersIn: " `")))"
                )
            }
        }
        let expected = KeyVaultRoutes.all.map { "\($0.operation.name) \($0)" }
        #expect(documented.count == expected.count)
        #expect(Set(documented.map { $0.replacing(/\{(issuer|sas)\}/, with: "{version}") }) == Set(expected))
    }
}
