import MoatCore
import MoatWire
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A connection's last answer to a Check: the decision and its packed `CheckResponse`. A
/// connection that asks the same question again (one service, one caller, the same vault and
/// operation) gets the same decision, and its answer is then copied after the new frame header
/// instead of being packed again (docs/performance.md, "Cuts").
///
/// The decision is compared whole (`Decision` is `Hashable` over every field) and each of its
/// strings byte for byte (`sameBytes`), and its encoding depends on nothing else, so the bytes
/// copied are the bytes packing would give. Holds one answer (a few hundred bytes) per connection;
/// touched only on the connection's event loop.
final class CheckAnswerMemo {
    private var decision: Decision?
    private var payload = ByteBuffer()

    /// Appends the answer to `request` carrying `decision` to `out`, as `RequestFrames.write`
    /// does: from the memo when `decision` is the last one, else packed and remembered.
    func write(
        _ decision: Decision,
        answering request: Frame,
        into out: inout ByteBuffer,
        _ frames: RequestFrames
    ) throws(StatusError) {
        if let last = self.decision, last == decision, Self.sameBytes(last, decision) {
            out.writeFrame(streamID: request.streamID, method: request.method, flags: .response) {
                $0.writeImmutableBuffer(payload)
            }
            return
        }
        let start = out.writerIndex
        try frames.write(decision, answering: request, into: &out)
        let packed = out.writerIndex - start - Frame.headerSize
        payload.clear()
        payload.writeImmutableBuffer(out.getSlice(at: start + Frame.headerSize, length: packed)!)
        self.decision = decision
    }

    /// Whether every string of `a` and `b`, equal decisions, holds the same bytes: `String`'s `==`
    /// is Unicode canonical equivalence ("é" as U+00E9 equals "e" then U+0301), and an answer
    /// carries bytes, some the caller's own (a vault name echoed in a message). Every `String` of a
    /// `Decision`, nested ones included; a string field added to it belongs here too. Its enums'
    /// raw values are constants.
    private static func sameBytes(_ a: Decision, _ b: Decision) -> Bool {
        sameBytes(a.message, b.message) && sameBytes(a.required, b.required)
            && sameBytes(a.wwwAuthenticate, b.wwwAuthenticate) && sameBytes(a.revision.hash, b.revision.hash)
            && sameBytes(a.caller?.objectId, b.caller?.objectId)
            && sameBytes(a.caller?.applicationId, b.caller?.applicationId)
            && sameBytes(a.caller?.tenantId, b.caller?.tenantId) && sameBytes(a.caller?.issuer, b.caller?.issuer)
            && sameBytes(a.admittedBy?.rule, b.admittedBy?.rule)
            && sameBytes(a.admittedBy?.service, b.admittedBy?.service)
            && sameBytes(a.grantedBy?.objectId, b.grantedBy?.objectId)
            && sameBytes(a.grantedBy?.applicationId, b.grantedBy?.applicationId)
            && sameBytes(a.grantedBy?.id, b.grantedBy?.id) && sameBytes(a.grantedBy?.role, b.grantedBy?.role)
            && sameBytes(a.grantedBy?.roleDefinitionId, b.grantedBy?.roleDefinitionId)
    }

    /// `memcmp` over the strings' contiguous UTF-8 (a generic `utf8.elementsEqual` cost about
    /// 19 000 instructions a check: docs/performance.md, "Cuts").
    private static func sameBytes(_ a: String?, _ b: String?) -> Bool {
        guard var a, var b else { return a == nil && b == nil }
        return a.withUTF8 { a in
            b.withUTF8 { b in
                a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
            }
        }
    }
}
