import Foundation
import MoatCore
import MoatIdentity
import MoatWire
import NIOCore

/// A bearer token, as any remote caller of a guarded service controls it, through the JWT parser
/// and verifier and a whole check of the conformance table's `authentication` document, whose
/// tenants hold RSA and EC keys (the seeds are its signed tokens).
///
/// Properties: nothing traps; a token that does not parse or whose signature does not verify is
/// never allowed; the decision always encodes for the wire, so a token can never turn its check
/// into "could not decide".
enum TokenFuzzing {
    /// The rules of `Tests/Conformance/decisions/authentication.json`, loaded once.
    static let rules: LoadedRules = {
        let url = FuzzTarget.conformanceRoot.appendingPathComponent("decisions/authentication.json")
        guard let data = FileManager.default.contents(atPath: url.path),
            let table = try? JSONValue(parsing: Array(data)), let document = table["rules"]
        else { fatalError("cannot read the rules of \(url.path)") }
        do {
            return try LoadedRules(json: Array(document.serialized().utf8), sequence: 1)
        } catch {
            fatalError("\(url.path): \(error)")
        }
    }()

    /// Within the lifetime of the table's tokens.
    private static let context = EvaluationContext(now: 1_700_001_800)

    static func run(_ input: [UInt8]) throws(OracleViolation) {
        let token = String(decoding: input, as: UTF8.self)
        let verified: Bool
        switch rules.verifier.verify(token[...]) {
        case .malformed: verified = false
        case .parsed(_, let signatureFailure): verified = signatureFailure == nil
        }
        for vault in ["auth-a", "auth-b"] {
            let request = CheckRequest(
                vault: vault,
                operation: .getSecret,
                objectName: "s",
                sourceAddress: "203.0.113.9",
                token: "Bearer " + token
            )
            let decision = rules.snapshot.evaluate(request, verifier: rules.verifier, context: context)
            if decision.outcome == .allow && !verified {
                throw OracleViolation("a token that did not verify was allowed on \(vault)")
            }
            try checkEncodes(decision)
        }
    }

    /// A decision must always reach the caller: encoding it cannot fail.
    static func checkEncodes(_ decision: Decision) throws(OracleViolation) {
        var buffer = ByteBuffer()
        do {
            try decision.encode(into: &buffer)
        } catch {
            throw OracleViolation("the decision does not encode (\(error)): \(decision)")
        }
    }
}
