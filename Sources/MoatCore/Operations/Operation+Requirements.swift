/// What an operation needs: the access-policy permission and the RBAC data action (or, for the
/// control plane, the ARM action) that grant it.
public struct OperationRequirement: Sendable, Hashable {
    /// The access-policy permission that grants the operation; `nil` for control-plane operations.
    public let permission: Permission?
    /// Every access-policy permission that grants the operation: `permission`, plus `manageissuers`
    /// for the certificate-issuer operations.
    public let grantingPermissions: PermissionSet
    /// The full RBAC data action (`Microsoft.KeyVault/vaults/secrets/getSecret/action`), or the ARM
    /// action for a control-plane operation (`Microsoft.KeyVault/vaults/read`).
    public let action: String
    /// `action` as a bit of an `ActionSet`.
    let actionBit: ActionSet
    /// `permission`'s description (`secrets/get`), made once rather than per decision.
    let permissionText: String
}

extension Operation {
    /// What the operation needs. See `docs/operations.md` for the table.
    public var requirement: OperationRequirement {
        Operation.requirements[Int(rawValue)]!
    }

    /// Every distinct action of the operation table; an action's position is its `ActionSet` bit.
    static let actions: [String] = {
        var actions: [String] = []
        for operation in allCases where !actions.contains(operation.action) { actions.append(operation.action) }
        precondition(actions.count <= 64, "ActionSet holds 64 actions")
        return actions
    }()

    private var action: String {
        (isControlPlane ? "Microsoft.KeyVault/vaults" : "Microsoft.KeyVault/vaults/") + definition.2
    }

    private static let requirements: [OperationRequirement?] = {
        var table = [OperationRequirement?](repeating: nil, count: 1000)
        for operation in allCases {
            let (category, permissionName, _) = operation.definition
            var permission: Permission?
            var granting = PermissionSet()
            if let category {
                permission = category.permission(named: permissionName)!
                granting = permission!.set
                if category == .certificates && permissionName.hasSuffix("issuers") {
                    granting.insert(category.permission(named: "manageissuers")!.set)
                }
            }
            table[Int(operation.rawValue)] = OperationRequirement(
                permission: permission,
                grantingPermissions: granting,
                action: operation.action,
                actionBit: ActionSet(rawValue: 1 << UInt64(actions.firstIndex(of: operation.action)!)),
                permissionText: permission?.description ?? ""
            )
        }
        return table
    }()

    /// (category, access-policy permission, action after `Microsoft.KeyVault/vaults/`).
    private var definition: (PermissionCategory?, String, String) {
        switch self {
        case .getSecret: (.secrets, "get", "secrets/getSecret/action")
        case .getSecrets: (.secrets, "list", "secrets/readMetadata/action")
        case .getSecretVersions: (.secrets, "list", "secrets/readMetadata/action")
        case .setSecret: (.secrets, "set", "secrets/setSecret/action")
        case .updateSecret: (.secrets, "set", "secrets/update/action")
        case .deleteSecret: (.secrets, "delete", "secrets/delete")
        case .backupSecret: (.secrets, "backup", "secrets/backup/action")
        case .restoreSecret: (.secrets, "restore", "secrets/restore/action")
        case .getDeletedSecret: (.secrets, "get", "secrets/readMetadata/action")
        case .getDeletedSecrets: (.secrets, "list", "secrets/readMetadata/action")
        case .recoverDeletedSecret: (.secrets, "recover", "secrets/recover/action")
        case .purgeDeletedSecret: (.secrets, "purge", "secrets/purge/action")

        case .getKey: (.keys, "get", "keys/read")
        case .getKeys: (.keys, "list", "keys/read")
        case .getKeyVersions: (.keys, "list", "keys/read")
        case .createKey: (.keys, "create", "keys/create/action")
        case .importKey: (.keys, "import", "keys/import/action")
        case .updateKey: (.keys, "update", "keys/update/action")
        case .deleteKey: (.keys, "delete", "keys/delete")
        case .backupKey: (.keys, "backup", "keys/backup/action")
        case .restoreKey: (.keys, "restore", "keys/restore/action")
        case .getDeletedKey: (.keys, "get", "keys/read")
        case .getDeletedKeys: (.keys, "list", "keys/read")
        case .recoverDeletedKey: (.keys, "recover", "keys/recover/action")
        case .purgeDeletedKey: (.keys, "purge", "keys/purge/action")
        case .encrypt: (.keys, "encrypt", "keys/encrypt/action")
        case .decrypt: (.keys, "decrypt", "keys/decrypt/action")
        case .sign: (.keys, "sign", "keys/sign/action")
        case .verify: (.keys, "verify", "keys/verify/action")
        case .wrapKey: (.keys, "wrapKey", "keys/wrap/action")
        case .unwrapKey: (.keys, "unwrapKey", "keys/unwrap/action")
        case .release: (.keys, "release", "keys/release/action")
        case .rotateKey: (.keys, "rotate", "keys/rotate/action")
        case .getKeyRotationPolicy: (.keys, "getrotationpolicy", "keyrotationpolicies/read")
        case .updateKeyRotationPolicy: (.keys, "setrotationpolicy", "keyrotationpolicies/write")

        case .getCertificate: (.certificates, "get", "certificates/read")
        case .getCertificates: (.certificates, "list", "certificates/read")
        case .getCertificateVersions: (.certificates, "list", "certificates/read")
        case .getCertificatePolicy: (.certificates, "get", "certificates/read")
        case .updateCertificatePolicy: (.certificates, "update", "certificates/update/action")
        case .createCertificate: (.certificates, "create", "certificates/create/action")
        case .importCertificate: (.certificates, "import", "certificates/import/action")
        case .updateCertificate: (.certificates, "update", "certificates/update/action")
        case .mergeCertificate: (.certificates, "create", "certificates/create/action")
        case .deleteCertificate: (.certificates, "delete", "certificates/delete")
        case .getCertificateOperation: (.certificates, "get", "certificates/read")
        case .updateCertificateOperation: (.certificates, "update", "certificates/update/action")
        case .deleteCertificateOperation: (.certificates, "update", "certificates/update/action")
        case .backupCertificate: (.certificates, "backup", "certificates/backup/action")
        case .restoreCertificate: (.certificates, "restore", "certificates/restore/action")
        case .getDeletedCertificate: (.certificates, "get", "certificates/read")
        case .getDeletedCertificates: (.certificates, "list", "certificates/read")
        case .recoverDeletedCertificate: (.certificates, "recover", "certificates/recover/action")
        case .purgeDeletedCertificate: (.certificates, "purge", "certificates/purge/action")
        case .getCertificateContacts: (.certificates, "managecontacts", "certificatecontacts/write")
        case .setCertificateContacts: (.certificates, "managecontacts", "certificatecontacts/write")
        case .deleteCertificateContacts: (.certificates, "managecontacts", "certificatecontacts/write")
        case .getCertificateIssuer: (.certificates, "getissuers", "certificatecas/read")
        case .getCertificateIssuers: (.certificates, "listissuers", "certificatecas/read")
        case .setCertificateIssuer: (.certificates, "setissuers", "certificatecas/write")
        case .updateCertificateIssuer: (.certificates, "setissuers", "certificatecas/write")
        case .deleteCertificateIssuer: (.certificates, "deleteissuers", "certificatecas/delete")

        case .getStorageAccount: (.storage, "get", "storageaccounts/read")
        case .getStorageAccounts: (.storage, "list", "storageaccounts/read")
        case .setStorageAccount: (.storage, "set", "storageaccounts/set/action")
        case .updateStorageAccount: (.storage, "update", "storageaccounts/set/action")
        case .deleteStorageAccount: (.storage, "delete", "storageaccounts/delete")
        case .regenerateStorageAccountKey: (.storage, "regeneratekey", "storageaccounts/regeneratekey/action")
        case .backupStorageAccount: (.storage, "backup", "storageaccounts/backup/action")
        case .restoreStorageAccount: (.storage, "restore", "storageaccounts/restore/action")
        case .getDeletedStorageAccount: (.storage, "get", "storageaccounts/read")
        case .getDeletedStorageAccounts: (.storage, "list", "storageaccounts/read")
        case .recoverDeletedStorageAccount: (.storage, "recover", "storageaccounts/recover/action")
        case .purgeDeletedStorageAccount: (.storage, "purge", "storageaccounts/purge/action")
        case .getSasDefinition: (.storage, "getsas", "storageaccounts/sas/read")
        case .getSasDefinitions: (.storage, "listsas", "storageaccounts/sas/read")
        case .setSasDefinition: (.storage, "setsas", "storageaccounts/sas/set/action")
        case .updateSasDefinition: (.storage, "setsas", "storageaccounts/sas/set/action")
        case .deleteSasDefinition: (.storage, "deletesas", "storageaccounts/sas/delete")
        case .getDeletedSasDefinition: (.storage, "getsas", "storageaccounts/sas/read")
        case .getDeletedSasDefinitions: (.storage, "listsas", "storageaccounts/sas/read")
        case .recoverDeletedSasDefinition: (.storage, "recover", "storageaccounts/recover/action")

        case .vaultsRead: (nil, "", "/read")
        case .vaultsWrite: (nil, "", "/write")
        case .vaultsDelete: (nil, "", "/delete")
        case .vaultsAccessPoliciesWrite: (nil, "", "/accessPolicies/write")
        }
    }
}
