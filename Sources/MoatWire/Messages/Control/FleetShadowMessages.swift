internal import CMoatProto
package import MoatCore
package import NIOCore

/// `moat.v1.FleetShadowNode`: one node's part of a fleet shadow report (docs/etcd.md, "A fleet's
/// shadow candidate").
public struct FleetShadowNode: Sendable, Hashable {
    public var name: String
    /// The candidate revision hash the node judges (the fleet's, or its rebase onto the node's
    /// serving document); empty when it could not load it.
    public var candidate: String
    public var compared: UInt64
    public var allowToDeny: UInt64
    public var denyToAllow: UInt64
    public var reasonChanged: UInt64
    public var skipped: UInt64
    /// Why the node could not load the fleet's candidate; nil when it judges it.
    public var error: String?

    public init(
        name: String,
        candidate: String,
        compared: UInt64 = 0,
        allowToDeny: UInt64 = 0,
        denyToAllow: UInt64 = 0,
        reasonChanged: UInt64 = 0,
        skipped: UInt64 = 0,
        error: String? = nil
    ) {
        self.name = name
        self.candidate = candidate
        self.compared = compared
        self.allowToDeny = allowToDeny
        self.denyToAllow = denyToAllow
        self.reasonChanged = reasonChanged
        self.skipped = skipped
        self.error = error
    }

    /// Checks whose outcome the candidate would change on this node.
    public var flips: UInt64 { allowToDeny + denyToAllow }

    init(cMessage message: borrowing Moat__V1__FleetShadowNode) {
        self.init(
            name: CString.string(message.name),
            candidate: CString.string(message.candidate),
            compared: message.compared,
            allowToDeny: message.allow_to_deny,
            denyToAllow: message.deny_to_allow,
            reasonChanged: message.reason_changed,
            skipped: message.skipped,
            error: CString.optional(message.error)
        )
    }

    func fill(
        _ arena: inout PackingArena,
        field: String
    ) throws(MessageCodingError) -> UnsafeMutablePointer<Moat__V1__FleetShadowNode> {
        let message = arena.message(Moat__V1__FleetShadowNode.self)
        try arena.set(&message.pointee.name, name, field: "\(field).name")
        try arena.set(&message.pointee.candidate, candidate, field: "\(field).candidate")
        message.pointee.compared = compared
        message.pointee.allow_to_deny = allowToDeny
        message.pointee.deny_to_allow = denyToAllow
        message.pointee.reason_changed = reasonChanged
        message.pointee.skipped = skipped
        try arena.set(&message.pointee.error, error, field: "\(field).error")
        return message
    }
}

/// `moat.v1.FleetShadowEntry`: the value of `PREFIX/shadow/candidate` in etcd, the fleet's shadow
/// candidate (docs/etcd.md, "A fleet's shadow candidate").
package struct FleetShadowEntry: WireMessage, Hashable {
    /// The document, or for a large one its chunk manifest (as `PREFIX/document` holds it).
    package var document: [UInt8]
    /// The revision hash of the document.
    package var candidateHash: String
    /// The revision hash of etcd's document the candidate was built on.
    package var baseHash: String
    /// The share of checks judged, in (0, 1].
    package var sampleRate: Double
    /// The changes that built it from the base, in order; nil when it was pushed whole.
    package var changes: [DocumentChange]?
    /// The node that put it, and when (Unix milliseconds).
    package var putBy: String
    package var putAtUnixMillis: Int64

    package init(
        document: [UInt8],
        candidateHash: String,
        baseHash: String,
        sampleRate: Double,
        changes: [DocumentChange]?,
        putBy: String,
        putAtUnixMillis: Int64
    ) {
        self.document = document
        self.candidateHash = candidateHash
        self.baseHash = baseHash
        self.sampleRate = sampleRate
        self.changes = changes
        self.putBy = putBy
        self.putAtUnixMillis = putAtUnixMillis
    }

    package init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__FleetShadowEntry.self, from: payload) {
            message throws(MessageCodingError) in
            var changes: [DocumentChange] = []
            for encoded in CBytes.arrays(message.changes, count: message.n_changes) {
                changes.append(try ApplyChangeRequest(wirePayload: ByteBuffer(bytes: encoded)).change)
            }
            return FleetShadowEntry(
                document: CBytes.array(message.document),
                candidateHash: CString.string(message.candidate_hash),
                baseHash: CString.string(message.base_hash),
                sampleRate: message.sample_rate,
                changes: changes.isEmpty ? nil : changes,
                putBy: CString.string(message.put_by),
                putAtUnixMillis: message.put_at_unix_millis
            )
        }
    }

    package func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        var encodedChanges: [[UInt8]] = []
        for change in changes ?? [] {
            var changeBuffer = ByteBuffer()
            try ApplyChangeRequest(change: change).encode(into: &changeBuffer)
            encodedChanges.append(Array(changeBuffer.readableBytesView))
        }
        try ProtobufCCodec.encode(Moat__V1__FleetShadowEntry.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            arena.set(&message.pointee.document, document)
            try arena.set(&message.pointee.candidate_hash, candidateHash, field: "candidate_hash")
            try arena.set(&message.pointee.base_hash, baseHash, field: "base_hash")
            message.pointee.sample_rate = sampleRate
            arena.set(&message.pointee.changes, count: &message.pointee.n_changes, encodedChanges)
            try arena.set(&message.pointee.put_by, putBy, field: "put_by")
            message.pointee.put_at_unix_millis = putAtUnixMillis
        }
    }
}

/// `moat.v1.FleetShadowReport`: the value of `PREFIX/shadow/reports/NODE`, one node's report on the
/// fleet's candidate (docs/etcd.md, "A fleet's shadow candidate").
package struct FleetShadowReport: WireMessage, Hashable {
    package var node: String
    /// The fleet candidate (`FleetShadowEntry.candidateHash`) it is about; empty: none was loaded.
    package var candidateHash: String
    /// The `PREFIX/shadow/report-request` value it answers.
    package var requestId: String
    package var report: ShadowReportResponse
    /// Why the node could not load the candidate; nil when it judges it.
    package var error: String?

    package init(
        node: String,
        candidateHash: String,
        requestId: String,
        report: ShadowReportResponse,
        error: String?
    ) {
        self.node = node
        self.candidateHash = candidateHash
        self.requestId = requestId
        self.report = report
        self.error = error
    }

    package init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        let (fields, encodedReport) = try ProtobufCCodec.decode(Moat__V1__FleetShadowReport.self, from: payload) {
            message in
            (
                (
                    node: CString.string(message.node), candidate: CString.string(message.candidate_hash),
                    request: CString.string(message.request_id), error: CString.optional(message.error)
                ),
                CBytes.array(message.report)
            )
        }
        self.init(
            node: fields.node,
            candidateHash: fields.candidate,
            requestId: fields.request,
            report: try ShadowReportResponse(wirePayload: ByteBuffer(bytes: encodedReport)),
            error: fields.error
        )
    }

    package func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        var reportBuffer = ByteBuffer()
        try report.encode(into: &reportBuffer)
        let encodedReport = Array(reportBuffer.readableBytesView)
        try ProtobufCCodec.encode(Moat__V1__FleetShadowReport.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            try arena.set(&message.pointee.node, node, field: "node")
            try arena.set(&message.pointee.candidate_hash, candidateHash, field: "candidate_hash")
            try arena.set(&message.pointee.request_id, requestId, field: "request_id")
            arena.set(&message.pointee.report, encodedReport)
            try arena.set(&message.pointee.error, error, field: "error")
        }
    }
}
