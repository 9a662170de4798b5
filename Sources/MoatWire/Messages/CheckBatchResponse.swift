internal import CMoatProto
public import MoatCore
public import NIOCore

/// `moat.v1.CheckBatchResponse`: one decision per request of a `CheckBatchRequest`, same order.
///
/// Decoding fails as a whole when any answer carries no decision (see `Decision`).
public struct CheckBatchResponse: WireMessage, Hashable {
    public var decisions: [Decision]

    public init(decisions: [Decision]) {
        self.decisions = decisions
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__CheckBatchResponse.self, from: payload) {
            message throws(MessageCodingError) in
            guard let items = message.responses, message.n_responses > 0 else {
                return CheckBatchResponse(decisions: [])
            }
            var decisions: [Decision] = []
            decisions.reserveCapacity(message.n_responses)
            for index in 0..<message.n_responses {
                do throws(MessageCodingError) {
                    decisions.append(try Decision(cMessage: items[index]!.pointee))
                } catch {
                    throw error.nested(in: "responses[\(index)]")
                }
            }
            return CheckBatchResponse(decisions: decisions)
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        try ProtobufCCodec.encode(Moat__V1__CheckBatchResponse.self, into: &buffer) {
            message,
            arena throws(MessageCodingError) in
            guard !decisions.isEmpty else { return }
            let items = arena.pointers(to: Moat__V1__CheckResponse.self, count: decisions.count)
            for (index, decision) in decisions.enumerated() {
                let item = arena.message(Moat__V1__CheckResponse.self)
                do throws(MessageCodingError) {
                    try decision.fill(item, &arena)
                } catch {
                    throw error.nested(in: "responses[\(index)]")
                }
                items[index] = item
            }
            message.pointee.n_responses = decisions.count
            message.pointee.responses = items
        }
    }
}
