internal import CMoatProto
public import MoatCore
public import NIOCore

/// `moat.v1.CheckBatchRequest`: many checks in one frame, answered in the same order by a
/// `CheckBatchResponse`. The daemon refuses more than `maximumCount` with RESOURCE_EXHAUSTED.
public struct CheckBatchRequest: WireMessage, Hashable {
    /// The most requests one batch may hold (`INTERFACES.md` section 1).
    public static let maximumCount = 1024

    public var requests: [CheckRequest]

    public init(requests: [CheckRequest]) {
        self.requests = requests
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__CheckBatchRequest.self, from: payload) { message in
            guard let items = message.requests, message.n_requests > 0 else { return CheckBatchRequest(requests: []) }
            return CheckBatchRequest(
                requests: (0..<message.n_requests).map { CheckRequest(cMessage: items[$0]!.pointee) }
            )
        }
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
