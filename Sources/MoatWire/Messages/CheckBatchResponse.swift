internal import CMoatProto
public import MoatCore
public import NIOCore

/// `moat.v1.CheckBatchResponse`: one item per request of a `CheckBatchRequest`, same order. Each
/// item is a decision, or that request's own status and message (it did not decode, its deadline
/// passed): one item that cannot be decided does not fail the others (docs/protocol.md).
///
/// On the wire a failed item is a `CheckResponse` whose `decision` is DECISION_UNSPECIFIED and
/// whose `error` is set. Decoding fails as a whole when an item is neither a valid decision nor a
/// valid error (a malformed answer: nothing in it can be trusted). Encoding never fails.
public struct CheckBatchResponse: WireMessage, Hashable {
    /// The answer to one request of the batch.
    public enum Item: Hashable, Sendable {
        /// The daemon decided (allow or deny).
        case decision(Decision)
        /// The daemon could not decide this request; the code is never OK.
        case error(StatusError)
    }

    public var items: [Item]

    public init(items: [Item]) {
        self.items = items
    }

    public init(wirePayload payload: ByteBuffer) throws(MessageCodingError) {
        self = try ProtobufCCodec.decode(Moat__V1__CheckBatchResponse.self, from: payload) {
            message throws(MessageCodingError) in
            guard let responses = message.responses, message.n_responses > 0 else {
                return CheckBatchResponse(items: [])
            }
            var items: [Item] = []
            items.reserveCapacity(message.n_responses)
            for index in 0..<message.n_responses {
                do throws(MessageCodingError) {
                    items.append(try Item(cMessage: responses[index]!.pointee))
                } catch {
                    throw error.nested(in: "responses[\(index)]")
                }
            }
            return CheckBatchResponse(items: items)
        }
    }

    public func encode(into buffer: inout ByteBuffer) throws(MessageCodingError) {
        ProtobufCCodec.encode(Moat__V1__CheckBatchResponse.self, into: &buffer) { message, arena in
            guard !items.isEmpty else { return }
            let responses = arena.pointers(to: Moat__V1__CheckResponse.self, count: items.count)
            for (index, item) in items.enumerated() {
                let response = arena.message(Moat__V1__CheckResponse.self)
                switch item {
                case .decision(let decision):
                    decision.fill(response, &arena)
                case .error(let error):
                    let cError = arena.message(Moat__V1__Error.self)
                    error.fill(cError, &arena)
                    response.pointee.error = cError
                }
                responses[index] = response
            }
            message.pointee.n_responses = items.count
            message.pointee.responses = responses
        }
    }
}

extension CheckBatchResponse.Item {
    init(cMessage message: borrowing Moat__V1__CheckResponse) throws(MessageCodingError) {
        guard let cError = message.error else {
            self = .decision(try Decision(cMessage: message))
            return
        }
        guard message.decision == MOAT__V1__DECISION__DECISION_UNSPECIFIED else {
            throw .invalidValue(field: "error", "is set on an item that also holds a decision")
        }
        let error: StatusError
        do throws(MessageCodingError) {
            error = try StatusError(cMessage: cError.pointee)
        } catch {
            throw error.nested(in: "error")
        }
        guard error.code != .ok else {
            throw .invalidValue(field: "error.code", "is OK, but the item holds no decision")
        }
        self = .error(error)
    }
}
