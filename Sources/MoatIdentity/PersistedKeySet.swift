public import MoatCore

/// A fetched key set as `moatd` keeps it under `--state-dir` (`docs/running.md`, "Signing keys"):
/// one file per tenant, `keys-TENANT.json`, so that a restart without network still verifies tokens
/// and `moatctl eval --state-dir` decides as the daemon would.
///
/// ```json
/// {"tenantId": "…", "source": "jwksUri https://…", "fetchedAtUnixMillis": 1767225600000,
///  "etag": "\"abc\"", "jwks": {"keys": […]}}
/// ```
public struct PersistedKeySet: Sendable, Hashable {
    /// Lower-case GUID.
    public var tenantId: String
    /// The key source it came from (`KeySource.description`); a set from another source is not used.
    public var source: String
    /// When the set was fetched (or last confirmed unchanged), Unix milliseconds.
    public var fetchedAtUnixMillis: Int64
    /// The server's `ETag`, sent back as `If-None-Match`.
    public var etag: String?
    /// The JWKS document.
    public var jwks: [UInt8]

    public init(tenantId: String, source: String, fetchedAtUnixMillis: Int64, etag: String?, jwks: [UInt8]) {
        self.tenantId = tenantId.lowercased()
        self.source = source
        self.fetchedAtUnixMillis = fetchedAtUnixMillis
        self.etag = etag
        self.jwks = jwks
    }

    /// The file that holds a tenant's set inside the state directory.
    public static func fileName(tenantId: String) -> String {
        "keys-\(tenantId.lowercased()).json"
    }

    /// Reads a state file; throws, naming what is wrong, for anything but a file this type wrote.
    public init(decoding bytes: some Collection<UInt8>) throws(DocumentError) {
        func refuse(_ message: String) -> DocumentError {
            DocumentError(errors: [ValidationError(path: "$", message: message)])
        }
        guard bytes.count <= JSONWebKeySet.maximumBytes * 2, let document = try? JSONValue(parsing: bytes) else {
            throw refuse("not a key-set state file (not JSON, or too large)")
        }
        guard let tenantId = document["tenantId"]?.stringValue, GUID.isValid(tenantId),
            let source = document["source"]?.stringValue,
            let fetchedAt = document["fetchedAtUnixMillis"]?.int64Value,
            let jwks = document["jwks"], jwks.objectValue != nil
        else {
            throw refuse("not a key-set state file: tenantId, source, fetchedAtUnixMillis and jwks are required")
        }
        self.init(
            tenantId: tenantId,
            source: source,
            fetchedAtUnixMillis: fetchedAt,
            etag: document["etag"]?.stringValue,
            jwks: Array(jwks.serialized(.compact).utf8)
        )
    }

    /// The set, imported, when it came from `source` (`nil` when it came from another); throws when
    /// its JWKS is no longer a valid set.
    public func keySet(from source: KeySource) throws(DocumentError) -> TenantKeySet? {
        guard self.source == source.description else { return nil }
        return try TenantKeySet(tenantId: tenantId, jwks: jwks)
    }

    /// The file's bytes; `jwks` must be a JSON object (a set that was accepted).
    public func encoded() -> [UInt8] {
        let jwksValue = (try? JSONValue(parsing: jwks)) ?? .object([])
        let value = JSONValue.object([
            ("tenantId", .string(tenantId)),
            ("source", .string(source)),
            ("fetchedAtUnixMillis", .number(String(fetchedAtUnixMillis))),
            ("etag", etag.map { .string($0) } ?? .null),
            ("jwks", jwksValue),
        ])
        return Array((value.serialized(.pretty) + "\n").utf8)
    }
}
