internal import CMoatProto
public import NIOCore

/// `moat.v1.FleetStatusRequest` (FleetStatus, method 25): asks for every node of the etcd source's
/// fleet (docs/etcd.md, "Fleet"); answered by a `FleetStatusResponse`.
public struct FleetStatusRequest: WireMessage, Hashable {
    public init() {}

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__FleetStatusRequest.self, from: payload) { _ in FleetStatusRequest() }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        ProtobufCCodec.encode(Moat__V1__FleetStatusRequest.self, into: &buffer) { _, _ in }
    }
}

/// `moat.v1.FleetNode`: one node's entry in the fleet registry.
public struct FleetNode: Sendable, Hashable {
    public var name: String
    /// The content hash of the revision the node serves (sequence numbers differ from node to node).
    public var revisionHash: String
    /// The etcd mod revision of the document the node last handled.
    public var etcdRevision: Int64
    /// When the node's revision was accepted, Unix milliseconds.
    public var sinceUnixMillis: Int64
    public var ready: Bool
    public var stale: Bool
    /// The node's last refused document or reload; `nil` when the last one succeeded.
    public var lastError: String?
    public var version: String

    public init(
        name: String,
        revisionHash: String,
        etcdRevision: Int64,
        sinceUnixMillis: Int64,
        ready: Bool,
        stale: Bool,
        lastError: String?,
        version: String
    ) {
        self.name = name
        self.revisionHash = revisionHash
        self.etcdRevision = etcdRevision
        self.sinceUnixMillis = sinceUnixMillis
        self.ready = ready
        self.stale = stale
        self.lastError = lastError
        self.version = version
    }
}

/// `moat.v1.FleetStatusResponse`: every live node, by name, and the hash of etcd's document.
public struct FleetStatusResponse: WireMessage, Hashable {
    public var nodes: [FleetNode]
    /// The revision hash of the document etcd holds; empty when there is none or it cannot be read.
    public var documentHash: String

    public init(nodes: [FleetNode], documentHash: String) {
        self.nodes = nodes
        self.documentHash = documentHash
    }

    /// Whether every node serves the same content.
    public var agree: Bool { Set(nodes.map(\.revisionHash)).count <= 1 }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__FleetStatusResponse.self, from: payload) { message in
            var nodes: [FleetNode] = []
            if let items = message.nodes {
                for index in 0..<message.n_nodes {
                    guard let node = items[index]?.pointee else { continue }
                    nodes.append(
                        FleetNode(
                            name: CString.string(node.name),
                            revisionHash: CString.string(node.revision_hash),
                            etcdRevision: node.etcd_revision,
                            sinceUnixMillis: node.since_unix_millis,
                            ready: node.ready != 0,
                            stale: node.stale != 0,
                            lastError: CString.optional(node.last_error),
                            version: CString.string(node.version)
                        )
                    )
                }
            }
            return FleetStatusResponse(nodes: nodes, documentHash: CString.string(message.document_hash))
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Moat__V1__FleetStatusResponse.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            let items = arena.pointers(to: Moat__V1__FleetNode.self, count: nodes.count)
            for (index, node) in nodes.enumerated() {
                let item = arena.message(Moat__V1__FleetNode.self)
                try arena.set(&item.pointee.name, node.name, field: "nodes[\(index)].name")
                try arena.set(&item.pointee.revision_hash, node.revisionHash, field: "nodes[\(index)].revision_hash")
                item.pointee.etcd_revision = node.etcdRevision
                item.pointee.since_unix_millis = node.sinceUnixMillis
                item.pointee.ready = node.ready ? 1 : 0
                item.pointee.stale = node.stale ? 1 : 0
                try arena.set(&item.pointee.last_error, node.lastError, field: "nodes[\(index)].last_error")
                try arena.set(&item.pointee.version, node.version, field: "nodes[\(index)].version")
                items[index] = item
            }
            message.pointee.n_nodes = nodes.count
            message.pointee.nodes = items
            try arena.set(&message.pointee.document_hash, documentHash, field: "document_hash")
        }
    }
}
