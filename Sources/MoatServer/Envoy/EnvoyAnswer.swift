import Glibc
import MoatCore
import MoatKeyVaultHTTP
import MoatWire

/// From a decision to the `CheckResponse` Envoy acts on (docs/envoy.md, "Answers").
enum EnvoyAnswer {
    static let decisionIdHeader = "x-moat-decision-id"
    static let revisionHeader = "x-moat-revision"

    /// A new decision id: 128 random bits in lowercase hex, read with one getentropy(3) (one
    /// getrandom(2); the stdlib's `SystemRandomNumberGenerator` makes one per 64 bits), which, like
    /// that generator, traps if the kernel cannot give random bytes.
    static func newDecisionId() -> String {
        var bits: (UInt64, UInt64) = (0, 0)
        let status = withUnsafeMutableBytes(of: &bits) { getentropy($0.baseAddress, 16) }
        precondition(status == 0, "getentropy failed")
        func digit(_ nibble: UInt8) -> UInt8 {
            nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
        }
        return String(unsafeUninitializedCapacity: 32) { hex in
            withUnsafeBytes(of: &bits) { bytes in
                for (index, byte) in bytes.enumerated() {
                    hex[index * 2] = digit(byte >> 4)
                    hex[index * 2 + 1] = digit(byte & 0xf)
                }
            }
            return 32
        }
    }

    /// The answer to a decision on a request from `sourceAddress`. An allow sets the decision id and
    /// revision headers upstream (overwriting what the client sent) and removes the client's other
    /// `x-moat-*` headers; a deny is Key Vault's answer.
    static func response(
        _ decision: Decision,
        sourceAddress: String,
        decisionId: String,
        clientMoatHeaders: [String]
    ) -> EnvoyCheckResponse {
        let metadata: [EnvoyCheckResponse.Header] = [
            .init("decision", decision.outcome == .allow ? "allow" : "deny"),
            .init("stage", decision.stage.rawValue),
            .init("code", decision.code.rawValue),
            .init("inner_code", decision.innerCode?.rawValue ?? ""),
            .init("revision", decision.revision.description),
            .init("decision_id", decisionId),
        ]
        guard decision.outcome == .deny else {
            let set = [decisionIdHeader, revisionHeader]
            return EnvoyCheckResponse(
                status: GRPCStatus.ok,
                httpResponse: .ok(headersToRemove: clientMoatHeaders.filter { !set.contains($0) }),
                headers: [.init(decisionIdHeader, decisionId), .init(revisionHeader, decision.revision.description)],
                metadata: metadata
            )
        }
        let denied = KeyVaultDeniedResponse(decision, sourceAddress: sourceAddress)
        return EnvoyCheckResponse(
            status: decision.code == .unauthorized
                ? GRPCStatus.unauthenticated
                : decision.code == .badParameter ? GRPCStatus.invalidArgument : GRPCStatus.permissionDenied,
            statusMessage: decision.message,
            httpResponse: .denied(status: denied.status, body: denied.body),
            headers: denied.headers.map { EnvoyCheckResponse.Header($0.name, $0.value) }
                + [EnvoyCheckResponse.Header(decisionIdHeader, decisionId)],
            metadata: metadata
        )
    }

    /// "Could not decide" as `error_response` (`--envoy-error-response`): 503, `retry-after`, and
    /// a Key Vault-shaped body.
    static func errorResponse(_ error: StatusError) -> EnvoyCheckResponse {
        let body = JSONValue.object([
            ("error", .object([("code", .string("ServiceUnavailable")), ("message", .string(error.message))]))
        ]).serialized()
        return EnvoyCheckResponse(
            status: GRPCStatus.unavailable,
            statusMessage: error.message,
            httpResponse: .error(status: 503, body: body),
            headers: [.init("content-type", KeyVaultDeniedResponse.contentType), .init("retry-after", "1")]
        )
    }
}

/// The `google.rpc.Code` numbers `CheckResponse.status` carries: Envoy allows on OK only.
enum GRPCStatus {
    static let ok: Int32 = 0
    static let invalidArgument: Int32 = 3
    static let permissionDenied: Int32 = 7
    static let unavailable: Int32 = 14
    static let unauthenticated: Int32 = 16
}
