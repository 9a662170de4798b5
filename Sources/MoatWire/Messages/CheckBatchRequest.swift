internal import CMoatProto
public import MoatCore
public import NIOCore

/// `moat.v1.CheckBatchRequest`: many checks in one frame, answered in the same order by a
/// `CheckBatchResponse`. The daemon refuses more than `maximumCount` with RESOURCE_EXHAUSTED.
public struct CheckBatchRequest: WireMessage, Hashable {
    /// The most requests one batch may hold (docs/protocol.md).
    public static let maximumCount = 1024

    public var requests: [CheckRequest]

    public init(requests: [CheckRequest]) {
        self.requests = requests
    }

    /// Decodes the batch as a whole: the first request that does not decode fails it. The daemon
    /// uses `items(wirePayload:)` instead, so that such a request fails alone.
    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self.init(
            requests: try Self.items(wirePayload: payload).map { item throws(MessageCodingError) in try item.get() }
        )
    }

    /// Decodes each request of a batch to its own outcome: a request that does not decode (a NUL
    /// byte or invalid UTF-8 in one of its strings) is an error naming it (`requests[2].vault`),
    /// and the others decode. The requests are counted before anything is unpacked: more than
    /// `maximumCount` throws `.tooManyItems`; bytes that are not a `CheckBatchRequest` throw
    /// `.malformedPayload`.
    public static func items(
        wirePayload payload: ByteBuffer
    ) throws(MessageCodingError) -> [Result<CheckRequest, MessageCodingError>] {
        try ProtobufCCodec.decodeItems(
            of: Moat__V1__CheckBatchRequest.self,
            field: "requests",
            as: Moat__V1__CheckRequest.self,
            from: payload,
            maximumCount: maximumCount
        ) { CheckRequest(cMessage: $0) }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Moat__V1__CheckBatchRequest.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            guard !requests.isEmpty else { return }
            let items = arena.pointers(to: Moat__V1__CheckRequest.self, count: requests.count)
            for (index, request) in requests.enumerated() {
                let item = arena.message(Moat__V1__CheckRequest.self)
                do throws(MessageCodingError) {
                    try request.fill(item, &arena)
                } catch {
                    throw error.nested(in: "requests[\(index)]")
                }
                items[index] = item
            }
            message.pointee.n_requests = requests.count
            message.pointee.requests = items
        }
    }
}
