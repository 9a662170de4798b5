import Foundation
import Testing

@testable import MoatCore

typealias Operation = MoatCore.Operation

@Suite("Operation table")
struct OperationTests {
    @Test("names are unique and looked up case-insensitively", arguments: Operation.allCases)
    func names(operation: Operation) {
        #expect(Operation(name: operation.name) == operation)
        #expect(Operation(name: operation.name.lowercased()) == operation)
        #expect(Operation(name: operation.name.uppercased()) == operation)
        #expect(operation.name.first!.isUppercase)
    }

    @Test(
        "every data-plane operation needs one access-policy permission and one data action",
        arguments: Operation.allCases
    )
    func requirements(operation: Operation) {
        let requirement = operation.requirement
        if operation.isControlPlane {
            #expect(requirement.permission == nil)
            #expect(requirement.action.hasPrefix("Microsoft.KeyVault/vaults/"))
        } else {
            #expect(requirement.permission != nil)
            #expect(requirement.grantingPermissions.contains(requirement.permission!.set))
            #expect(requirement.action.hasPrefix("Microsoft.KeyVault/vaults/"))
            #expect(requirement.action.split(separator: "/").count >= 4)
        }
        #expect(requirement.actionBit.rawValue.nonzeroBitCount == 1)
    }

    /// Rows of docs/operations.md and docs/protocol.md, "Status codes", as written there.
    @Test(
        "the published rows",
        arguments: [
            ("GetSecret", "secrets/get", "Microsoft.KeyVault/vaults/secrets/getSecret/action"),
            ("SetSecret", "secrets/set", "Microsoft.KeyVault/vaults/secrets/setSecret/action"),
            ("UpdateSecret", "secrets/set", "Microsoft.KeyVault/vaults/secrets/update/action"),
            ("GetSecrets", "secrets/list", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"),
            ("GetSecretVersions", "secrets/list", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"),
            ("GetDeletedSecret", "secrets/get", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"),
            ("GetDeletedSecrets", "secrets/list", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"),
            ("DeleteSecret", "secrets/delete", "Microsoft.KeyVault/vaults/secrets/delete"),
            ("BackupSecret", "secrets/backup", "Microsoft.KeyVault/vaults/secrets/backup/action"),
            ("RestoreSecret", "secrets/restore", "Microsoft.KeyVault/vaults/secrets/restore/action"),
            ("RecoverDeletedSecret", "secrets/recover", "Microsoft.KeyVault/vaults/secrets/recover/action"),
            ("PurgeDeletedSecret", "secrets/purge", "Microsoft.KeyVault/vaults/secrets/purge/action"),
            ("GetKey", "keys/get", "Microsoft.KeyVault/vaults/keys/read"),
            ("GetKeys", "keys/list", "Microsoft.KeyVault/vaults/keys/read"),
            ("CreateKey", "keys/create", "Microsoft.KeyVault/vaults/keys/create/action"),
            ("ImportKey", "keys/import", "Microsoft.KeyVault/vaults/keys/import/action"),
            ("UpdateKey", "keys/update", "Microsoft.KeyVault/vaults/keys/update/action"),
            ("DeleteKey", "keys/delete", "Microsoft.KeyVault/vaults/keys/delete"),
            ("Encrypt", "keys/encrypt", "Microsoft.KeyVault/vaults/keys/encrypt/action"),
            ("Decrypt", "keys/decrypt", "Microsoft.KeyVault/vaults/keys/decrypt/action"),
            ("Sign", "keys/sign", "Microsoft.KeyVault/vaults/keys/sign/action"),
            ("Verify", "keys/verify", "Microsoft.KeyVault/vaults/keys/verify/action"),
            ("WrapKey", "keys/wrapkey", "Microsoft.KeyVault/vaults/keys/wrap/action"),
            ("UnwrapKey", "keys/unwrapkey", "Microsoft.KeyVault/vaults/keys/unwrap/action"),
            ("Release", "keys/release", "Microsoft.KeyVault/vaults/keys/release/action"),
            ("RotateKey", "keys/rotate", "Microsoft.KeyVault/vaults/keys/rotate/action"),
            ("GetKeyRotationPolicy", "keys/getrotationpolicy", "Microsoft.KeyVault/vaults/keyrotationpolicies/read"),
            (
                "UpdateKeyRotationPolicy", "keys/setrotationpolicy",
                "Microsoft.KeyVault/vaults/keyrotationpolicies/write"
            ),
            ("GetCertificate", "certificates/get", "Microsoft.KeyVault/vaults/certificates/read"),
            ("GetCertificates", "certificates/list", "Microsoft.KeyVault/vaults/certificates/read"),
            ("CreateCertificate", "certificates/create", "Microsoft.KeyVault/vaults/certificates/create/action"),
            ("ImportCertificate", "certificates/import", "Microsoft.KeyVault/vaults/certificates/import/action"),
            ("UpdateCertificate", "certificates/update", "Microsoft.KeyVault/vaults/certificates/update/action"),
            ("DeleteCertificate", "certificates/delete", "Microsoft.KeyVault/vaults/certificates/delete"),
            (
                "GetCertificateContacts", "certificates/managecontacts",
                "Microsoft.KeyVault/vaults/certificatecontacts/write"
            ),
            (
                "SetCertificateContacts", "certificates/managecontacts",
                "Microsoft.KeyVault/vaults/certificatecontacts/write"
            ),
            (
                "DeleteCertificateContacts", "certificates/managecontacts",
                "Microsoft.KeyVault/vaults/certificatecontacts/write"
            ),
            ("GetCertificateIssuer", "certificates/getissuers", "Microsoft.KeyVault/vaults/certificatecas/read"),
            ("GetCertificateIssuers", "certificates/listissuers", "Microsoft.KeyVault/vaults/certificatecas/read"),
            ("SetCertificateIssuer", "certificates/setissuers", "Microsoft.KeyVault/vaults/certificatecas/write"),
            (
                "DeleteCertificateIssuer", "certificates/deleteissuers",
                "Microsoft.KeyVault/vaults/certificatecas/delete"
            ),
            ("GetStorageAccount", "storage/get", "Microsoft.KeyVault/vaults/storageaccounts/read"),
            ("SetSasDefinition", "storage/setsas", "Microsoft.KeyVault/vaults/storageaccounts/sas/set/action"),
            ("VaultsRead", nil, "Microsoft.KeyVault/vaults/read"),
            ("VaultsAccessPoliciesWrite", nil, "Microsoft.KeyVault/vaults/accessPolicies/write"),
        ] as [(String, String?, String)]
    )
    func publishedRows(name: String, permission: String?, action: String) throws {
        let operation = try #require(Operation(name: name))
        #expect(operation.requirement.permission?.description == permission)
        #expect(operation.requirement.action == action)
    }

    /// docs/operations.md names the storage rows only as a range: "storage account and SAS
    /// operations | storage/get ... deletesas | DA:storageaccounts/..., DA:storageaccounts/sas/...".
    @Test("storage account and SAS operations need a storage permission and a storageaccounts data action")
    func storageRows() throws {
        let storage = Operation.allCases.filter {
            $0.name.contains("StorageAccount") || $0.name.contains("SasDefinition")
        }
        #expect(storage.contains(try #require(Operation(name: "GetStorageAccount"))))
        #expect(storage.contains(try #require(Operation(name: "SetSasDefinition"))))
        let sasPermissions: Set = ["storage/setsas", "storage/listsas", "storage/getsas", "storage/deletesas"]
        for operation in Operation.allCases {
            let requirement = operation.requirement
            let permission = requirement.permission?.description ?? ""
            if storage.contains(operation) {
                #expect(permission.hasPrefix("storage/"), "\(operation.name): \(permission)")
                #expect(
                    requirement.action.hasPrefix("Microsoft.KeyVault/vaults/storageaccounts/"),
                    "\(operation.name): \(requirement.action)"
                )
                if sasPermissions.contains(permission) {
                    #expect(
                        requirement.action.hasPrefix("Microsoft.KeyVault/vaults/storageaccounts/sas/"),
                        "\(operation.name): \(requirement.action)"
                    )
                }
            } else {
                #expect(!permission.hasPrefix("storage/"), "\(operation.name): \(permission)")
                #expect(
                    !requirement.action.hasPrefix("Microsoft.KeyVault/vaults/storageaccounts/"),
                    "\(operation.name): \(requirement.action)"
                )
            }
        }
    }

    @Test("manageissuers grants every certificate-issuer operation and nothing else")
    func manageIssuers() throws {
        let manage = try #require(PermissionCategory.certificates.permission(named: "manageissuers")).set
        let granted = Operation.allCases.filter { $0.requirement.grantingPermissions.contains(manage) }
        #expect(
            Set(granted) == [
                .getCertificateIssuer, .getCertificateIssuers, .setCertificateIssuer, .updateCertificateIssuer,
                .deleteCertificateIssuer,
            ]
        )
    }

    @Test("permission names are case-insensitive and `all` covers a category")
    func permissions() throws {
        #expect(PermissionCategory.keys.permission(named: "WRAPKEY")?.name == "wrapKey")
        #expect(PermissionCategory.secrets.permission(named: "wrapKey") == nil)
        #expect(PermissionCategory.secrets.all.permissions.count == 8)
        #expect(PermissionCategory.keys.all.isDisjoint(with: PermissionCategory.secrets.all))
        let total = PermissionCategory.allCases.reduce(0) { $0 + $1.permissionNames.count }
        let union = PermissionCategory.allCases.reduce(PermissionSet()) { $0.union($1.all) }
        #expect(union.rawValue.nonzeroBitCount == total)
    }

    @Test(
        "action patterns: `*` spans slashes, case is ignored",
        arguments: [
            ("Microsoft.KeyVault/vaults/*", "Microsoft.KeyVault/vaults/secrets/getSecret/action", true),
            ("Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/storageaccounts/sas/read", true),
            ("Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action", false),
            ("microsoft.keyvault/VAULTS/secrets/*", "Microsoft.KeyVault/vaults/secrets/delete", true),
            ("*", "anything", true),
            ("*/read", "Microsoft.KeyVault/vaults/read", true),
            ("Microsoft.KeyVault/vaults/secrets/*", "Microsoft.KeyVault/vaults/keys/read", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbYd", false),
        ]
    )
    func glob(pattern: String, action: String, matches: Bool) {
        #expect(ActionSet.glob(pattern, matches: action) == matches)
    }
}

@Suite("docs/operations.md")
struct OperationsDocumentTests {
    /// The table rows of docs/operations.md: name, number, permission, action, RBAC scope.
    static let rows: [[String]] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/operations.md")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { $0.hasPrefix("| `") }.map { line in
            line.split(separator: "|").map {
                $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "`", with: "")
            }
        }
    }()

    @Test("lists every operation once, with the engine's number, permission, action and RBAC scope")
    func matchesTheEngine() throws {
        #expect(Self.rows.map { $0[0] } == Operation.allCases.map(\.name))
        for row in Self.rows {
            let operation = try #require(Operation(name: row[0]))
            #expect(row[1] == String(operation.rawValue), "\(row[0])")
            #expect(
                row[2] == (operation.requirement.permission?.description ?? "(control plane: role assignments)"),
                "\(row[0])"
            )
            #expect(row[3] == operation.requirement.action, "\(row[0])")
            #expect(row[4] == (operation.actsOnOneObject ? "object" : "vault"), "\(row[0])")
        }
    }
}
