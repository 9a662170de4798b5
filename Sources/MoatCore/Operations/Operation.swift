/// Every Key Vault operation Moat decides, named as Key Vault's REST API names it.
///
/// Raw values are the numbers of `moat.v1.Operation` on the wire (`proto/moat/v1/authz.proto`):
/// secrets 1xx, keys 2xx, certificates 3xx, managed storage 4xx, control plane 9xx.
/// `docs/operations.md` lists each with the permission and data action it needs.
public enum Operation: Int32, CaseIterable, Sendable, Hashable {
    case getSecret = 101
    case getSecrets = 102
    case getSecretVersions = 103
    case setSecret = 104
    case updateSecret = 105
    case deleteSecret = 106
    case backupSecret = 107
    case restoreSecret = 108
    case getDeletedSecret = 109
    case getDeletedSecrets = 110
    case recoverDeletedSecret = 111
    case purgeDeletedSecret = 112

    case getKey = 201
    case getKeys = 202
    case getKeyVersions = 203
    case createKey = 204
    case importKey = 205
    case updateKey = 206
    case deleteKey = 207
    case backupKey = 208
    case restoreKey = 209
    case getDeletedKey = 210
    case getDeletedKeys = 211
    case recoverDeletedKey = 212
    case purgeDeletedKey = 213
    case encrypt = 214
    case decrypt = 215
    case sign = 216
    case verify = 217
    case wrapKey = 218
    case unwrapKey = 219
    case release = 220
    case rotateKey = 221
    case getKeyRotationPolicy = 222
    case updateKeyRotationPolicy = 223

    case getCertificate = 301
    case getCertificates = 302
    case getCertificateVersions = 303
    case getCertificatePolicy = 304
    case updateCertificatePolicy = 305
    case createCertificate = 306
    case importCertificate = 307
    case updateCertificate = 308
    case mergeCertificate = 309
    case deleteCertificate = 310
    case getCertificateOperation = 311
    case updateCertificateOperation = 312
    case deleteCertificateOperation = 313
    case backupCertificate = 314
    case restoreCertificate = 315
    case getDeletedCertificate = 316
    case getDeletedCertificates = 317
    case recoverDeletedCertificate = 318
    case purgeDeletedCertificate = 319
    case getCertificateContacts = 320
    case setCertificateContacts = 321
    case deleteCertificateContacts = 322
    case getCertificateIssuer = 323
    case getCertificateIssuers = 324
    case setCertificateIssuer = 325
    case updateCertificateIssuer = 326
    case deleteCertificateIssuer = 327

    case getStorageAccount = 401
    case getStorageAccounts = 402
    case setStorageAccount = 403
    case updateStorageAccount = 404
    case deleteStorageAccount = 405
    case regenerateStorageAccountKey = 406
    case backupStorageAccount = 407
    case restoreStorageAccount = 408
    case getDeletedStorageAccount = 409
    case getDeletedStorageAccounts = 410
    case recoverDeletedStorageAccount = 411
    case purgeDeletedStorageAccount = 412
    case getSasDefinition = 413
    case getSasDefinitions = 414
    case setSasDefinition = 415
    case updateSasDefinition = 416
    case deleteSasDefinition = 417
    case getDeletedSasDefinition = 418
    case getDeletedSasDefinitions = 419
    case recoverDeletedSasDefinition = 420

    case vaultsRead = 901
    case vaultsWrite = 902
    case vaultsDelete = 903
    case vaultsAccessPoliciesWrite = 904

    /// The REST operation name in UpperCamelCase, e.g. `GetSecret`.
    public var name: String {
        let text = String(describing: self)
        return text.prefix(1).uppercased() + text.dropFirst()
    }

    /// The operation named `name`, compared case-insensitively (`getsecret` is `GetSecret`).
    public init?(name: String) {
        guard let operation = Operation.byLowercasedName[name.lowercased()] else { return nil }
        self = operation
    }

    private static let byLowercasedName: [String: Operation] = Dictionary(
        uniqueKeysWithValues: allCases.map { ($0.name.lowercased(), $0) }
    )

    /// Data-plane operations act on a vault's contents and pass the network gate; control-plane
    /// operations act on the vault resource and skip it.
    public var isControlPlane: Bool { rawValue >= 900 }

    /// Whether the operation acts on one key, secret or certificate, named in its REST path
    /// (`/secrets/{name}/…`, `/keys/{name}/…`, `/certificates/{name}/…`), so that a role assignment
    /// scoped to that object can grant it. Every other operation acts on the vault, and Key Vault
    /// evaluates it at vault scope whatever object name a request carries: listings, deleted items
    /// (`/deletedsecrets/…`), restores (the name is inside the backup), certificate contacts and
    /// issuers, managed storage accounts and the control plane (`docs/semantics.md`, "Object scopes").
    public var actsOnOneObject: Bool {
        switch self {
        case .getSecret, .getSecretVersions, .setSecret, .updateSecret, .deleteSecret, .backupSecret:
            true
        case .getKey, .getKeyVersions, .createKey, .importKey, .updateKey, .deleteKey, .backupKey, .encrypt, .decrypt,
            .sign, .verify, .wrapKey, .unwrapKey, .release, .rotateKey, .getKeyRotationPolicy, .updateKeyRotationPolicy:
            true
        case .getCertificate, .getCertificateVersions, .getCertificatePolicy, .updateCertificatePolicy,
            .createCertificate, .importCertificate, .updateCertificate, .mergeCertificate, .deleteCertificate,
            .getCertificateOperation, .updateCertificateOperation, .deleteCertificateOperation, .backupCertificate:
            true
        default:
            // New operations act on the vault until shown otherwise: an object-scoped assignment
            // must never grant more than its object.
            false
        }
    }
}
