import MoatEtcd
import MoatIdentity
import MoatWire
import NIOCore

/// The rules document as Moat keeps it in etcd under a prefix (docs/etcd.md, "Keys"):
///
/// - `PREFIX/document`: the document itself, or, for a document over `inlineLimit`, a manifest
///   naming its chunks (`moat-chunks v1`, then `hash`, `size` and one `chunk` line per chunk);
/// - `PREFIX/chunks/HASH`: one chunk, named by the hash of its bytes;
/// - `PREFIX/history/HASH`: the last `keptDocuments` documents (as `PREFIX/document` held them),
///   for rollback;
/// - `PREFIX/shadow/`: the fleet's shadow candidate (`FleetShadow`), whose chunks are kept too.
///
/// A writer puts the chunks first, then switches `PREFIX/document` with one transaction that
/// compares the revision it read and that every chunk exists; a reader follows a manifest only when
/// all its chunks are there and add up to its hash. Chunks no kept document names are collected
/// after a write, in a transaction that holds only while the document is unchanged.
struct EtcdDocumentStore: Sendable {
    /// A document read from etcd.
    struct Stored: Sendable {
        var bytes: [UInt8]
        /// The mod revision of `PREFIX/document`: what a write compares.
        var modRevision: Int64
    }

    /// What `read` found.
    struct Read: Sendable {
        /// nil when there is no document under the prefix.
        var document: Stored?
        /// The store's revision at the read: a watch continues from the next one.
        var revision: Int64
    }

    /// Documents up to this size are stored whole in `PREFIX/document` (with the history copy,
    /// a transaction stays well within etcd's default 1.5 MiB request limit).
    static let inlineLimit = 512 * 1024
    static let chunkBytes = 512 * 1024
    static let keptDocuments = 5
    /// etcd's default `--max-txn-ops` is 128.
    private static let maximumOperations = 100

    let client: EtcdClient
    let prefix: String
    /// The endpoints and the prefix, as status shows them.
    let source: String

    init(client: EtcdClient, prefix: String) {
        self.client = client
        self.prefix = prefix
        source = "\(client.configuration.endpoints.map(\.description).joined(separator: ",")) \(prefix)"
    }

    var documentKey: [UInt8] { key("document") }
    func key(_ name: String) -> [UInt8] { Array((prefix + name).utf8) }
    private func chunkKey(_ hash: String) -> [UInt8] { key("chunks/" + hash) }
    private func historyKey(_ hash: String) -> [UInt8] { key("history/" + hash) }

    /// The document and the store's revision.
    func read() async throws(EtcdSourceError) -> Read {
        let response = try await call { try await client.range(EtcdRangeRequest(key: documentKey)) }
        guard let kv = response.kvs.first else { return Read(document: nil, revision: response.revision) }
        return Read(document: try await document(kv), revision: response.revision)
    }

    /// The document a `PREFIX/document` value stands for: itself, or the chunks its manifest names.
    func document(_ kv: EtcdKeyValue) async throws(EtcdSourceError) -> Stored {
        Stored(bytes: try await resolve(kv.value), modRevision: kv.modRevision)
    }

    /// The document a stored value stands for: itself, or the chunks its manifest names.
    func resolve(_ value: [UInt8]) async throws(EtcdSourceError) -> [UInt8] {
        guard let manifest = try Self.manifest(value) else { return value }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(manifest.size)
        for hash in manifest.chunks {
            let response = try await call { try await client.range(EtcdRangeRequest(key: chunkKey(hash))) }
            guard let chunk = response.kvs.first?.value, RevisionHash.of(chunk) == hash else {
                throw .invalid("chunk \(hash) of document \(manifest.hash) is missing from etcd")
            }
            bytes += chunk
        }
        guard bytes.count == manifest.size, RevisionHash.of(bytes) == manifest.hash else {
            throw .invalid("the chunks of document \(manifest.hash) do not add up to it")
        }
        return bytes
    }

    /// Replaces the document when `PREFIX/document` is still at `modRevision` (0: absent) and
    /// `holding` holds, and keeps it for rollback unless told not to (a rollback goes to a kept
    /// one): the new mod revision, or nil when the transaction did not hold (the document changed
    /// meanwhile: read again and retry; or `holding` no longer holds: `holds(_:)`).
    func write(
        _ bytes: [UInt8],
        replacing modRevision: Int64,
        holding: [EtcdCompare] = [],
        recordInHistory: Bool
    ) async throws(EtcdSourceError) -> Int64? {
        let hash = RevisionHash.of(bytes)
        let (value, chunksExist) = try await storable(bytes)
        let compare = [EtcdCompare(key: documentKey, .modRevision(modRevision))] + holding + chunksExist
        var operations = [EtcdOperation.put(EtcdPutRequest(key: documentKey, value: value))]
        if recordInHistory { operations.append(.put(EtcdPutRequest(key: historyKey(hash), value: value))) }
        let response = try await call { try await client.txn(EtcdTxnRequest(compare: compare, success: operations)) }
        return response.succeeded ? response.revision : nil
    }

    /// Whether every comparison in `compare` holds now.
    func holds(_ compare: [EtcdCompare]) async throws(EtcdSourceError) -> Bool {
        try await call { try await client.txn(EtcdTxnRequest(compare: compare, success: [])) }.succeeded
    }

    /// What a key holds for `bytes`: the bytes, or for a document over `inlineLimit` a manifest
    /// of its chunks, which are put first (one request each); with the comparisons a transaction
    /// that writes the value needs (every chunk still exists).
    func storable(_ bytes: [UInt8]) async throws(EtcdSourceError) -> (value: [UInt8], chunksExist: [EtcdCompare]) {
        guard bytes.count > Self.inlineLimit else { return (bytes, []) }
        var manifest = EtcdDocumentManifest(hash: RevisionHash.of(bytes), size: bytes.count, chunks: [])
        var compare: [EtcdCompare] = []
        var start = 0
        while start < bytes.count {
            let chunk = Array(bytes[start..<min(start + Self.chunkBytes, bytes.count)])
            let chunkHash = RevisionHash.of(chunk)
            _ = try await call { try await client.put(EtcdPutRequest(key: chunkKey(chunkHash), value: chunk)) }
            manifest.chunks.append(chunkHash)
            compare.append(EtcdCompare(key: chunkKey(chunkHash), .version(0), .greater))
            start += Self.chunkBytes
        }
        return (manifest.encoded, compare)
    }

    /// Every node of the fleet (`PREFIX/nodes/`) and the hash of the document (FleetStatus).
    func fleetStatus() async throws(StatusError) -> FleetStatusResponse {
        do throws(EtcdSourceError) {
            let nodes = try await call { try await NodeRegistry.nodes(client: client, prefix: prefix) }
            let document = try await read().document
            return FleetStatusResponse(nodes: nodes, documentHash: document.map { RevisionHash.of($0.bytes) } ?? "")
        } catch {
            throw StatusError(error.statusCode, error.description)
        }
    }

    /// The kept documents, newest first: (hash, bytes). A kept document whose chunks are gone is
    /// left out.
    func history() async throws(EtcdSourceError) -> [(hash: String, bytes: [UInt8])] {
        var kept: [(hash: String, bytes: [UInt8])] = []
        for kv in try await historyEntries() {
            guard let bytes = try? await resolve(kv.value) else { continue }
            kept.append((RevisionHash.of(bytes), bytes))
        }
        return kept
    }

    private func historyEntries() async throws(EtcdSourceError) -> [EtcdKeyValue] {
        let historyPrefix = key("history/")
        let response = try await call {
            try await client.range(EtcdRangeRequest(key: historyPrefix, rangeEnd: EtcdKeys.prefixEnd(historyPrefix)))
        }
        return response.kvs.sorted { $0.modRevision > $1.modRevision }
    }

    /// Deletes the history past `keptDocuments` and the chunks no remaining document (nor the
    /// fleet's shadow candidate) names, in one transaction that holds only while `PREFIX/document`
    /// and the candidate are unchanged (a writer that switches to chunks deleted meanwhile fails
    /// its own comparison and writes them again).
    func collectGarbage() async throws(EtcdSourceError) {
        let current = try await call { try await client.range(EtcdRangeRequest(key: documentKey)) }
        guard let document = current.kvs.first else { return }
        let candidateKey = key(FleetShadow.candidateKey)
        let candidate = try await call { try await client.range(EtcdRangeRequest(key: candidateKey)) }.kvs.first
        let entries = try await historyEntries()
        let kept = entries.prefix(Self.keptDocuments)
        var referenced = Set(try Self.manifest(document.value)?.chunks ?? [])
        for entry in kept { referenced.formUnion((try? EtcdDocumentManifest(entry.value))?.chunks ?? []) }
        if let candidate, let entry = try? FleetShadowEntry(wirePayload: ByteBuffer(bytes: candidate.value)) {
            referenced.formUnion((try? EtcdDocumentManifest(entry.document))?.chunks ?? [])
        }
        let chunksPrefix = key("chunks/")
        let chunks = try await call {
            try await client.range(
                EtcdRangeRequest(key: chunksPrefix, rangeEnd: EtcdKeys.prefixEnd(chunksPrefix), keysOnly: true)
            )
        }
        let unreferenced = chunks.kvs.map { $0.key }.filter {
            !referenced.contains(String(decoding: $0.dropFirst(chunksPrefix.count), as: UTF8.self))
        }
        let deletions = (entries.dropFirst(Self.keptDocuments).map(\.key) + unreferenced)
            .prefix(Self.maximumOperations)
            .map { EtcdOperation.delete(EtcdDeleteRequest(key: $0)) }
        guard !deletions.isEmpty else { return }
        _ = try await call {
            try await client.txn(
                EtcdTxnRequest(
                    compare: [
                        EtcdCompare(key: documentKey, .modRevision(document.modRevision)),
                        EtcdCompare(key: candidateKey, .modRevision(candidate?.modRevision ?? 0)),
                    ],
                    success: Array(deletions)
                )
            )
        }
    }

    /// The manifest `value` holds, nil when it is a document.
    private static func manifest(_ value: [UInt8]) throws(EtcdSourceError) -> EtcdDocumentManifest? {
        do {
            return try EtcdDocumentManifest(value)
        } catch {
            throw .invalid(error.message)
        }
    }

    func call<T>(_ body: () async throws -> T) async throws(EtcdSourceError) -> T {
        do {
            return try await body()
        } catch let error as EtcdError {
            throw .etcd(error)
        } catch {
            throw .etcd(EtcdError(.unavailable, "\(error)"))
        }
    }
}

/// Why the etcd source could not read or write a document.
enum EtcdSourceError: Error, Sendable, CustomStringConvertible {
    /// etcd did not answer or refused.
    case etcd(EtcdError)
    /// What etcd holds is not a document Moat can follow (a manifest with missing chunks).
    case invalid(String)

    var description: String {
        switch self {
        case .etcd(let error): error.message
        case .invalid(let message): message
        }
    }

    /// How a control call answers it (docs/etcd.md, "Control calls with the etcd source"):
    /// UNAVAILABLE when etcd did not answer (try again later), FAILED_PRECONDITION when it refused
    /// or holds a document Moat cannot follow (an operator must act).
    var statusCode: StatusCode {
        switch self {
        case .etcd(let failure) where failure.kind == .unavailable: .unavailable
        case .etcd, .invalid: .failedPrecondition
        }
    }
}
