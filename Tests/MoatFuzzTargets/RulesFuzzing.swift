import MoatCore
import MoatIdentity
import MoatWire
import NIOCore

/// A rule document through everything `moatd` does when it loads one (`docs/rules.md`): JSON,
/// validation, compilation, key import (`LoadedRules`), then checks against each vault.
///
/// Properties: loading never traps; a refusal lists at least one error; an accepted document is
/// accepted again after being written back as the daemon writes it (`Layout.document`); every
/// decision it yields encodes for the wire.
enum RulesFuzzing {
    static func run(_ input: [UInt8]) throws(OracleViolation) {
        let rules: LoadedRules
        do {
            rules = try LoadedRules(json: input, sequence: 1)
        } catch {
            guard !error.errors.isEmpty else { throw OracleViolation("a refused document lists no error") }
            return
        }
        // The parse cannot fail: LoadedRules parsed the same bytes.
        guard let document = try? JSONValue(parsing: input) else {
            throw OracleViolation("an accepted document does not parse")
        }
        do {
            _ = try LoadedRules(json: Array(document.serialized(.document).utf8), sequence: 2)
        } catch {
            throw OracleViolation("an accepted document is refused once written back: \(error)")
        }
        for vault in rules.snapshot.vaultNames.prefix(4) {
            for request in requests(to: vault) {
                let decision = rules.snapshot.evaluate(request, verifier: rules.verifier, context: context)
                try TokenFuzzing.checkEncodes(decision)
            }
        }
    }

    /// Asserted identities are trusted, so that authorization is reached without a signed token.
    private static let context = EvaluationContext(now: 1_700_001_800, trustsAssertedIdentity: true)

    private static func requests(to vault: String) -> [CheckRequest] {
        let identity = AssertedIdentity(
            oid: "a11ce000-0000-4000-8000-000000000001",
            tid: "a0a0a0a0-0000-4000-8000-00000000000a",
            groups: ["9a0b0000-0000-4000-8000-000000000001"]
        )
        return [
            CheckRequest(vault: vault, operation: .getSecret, objectName: "s", sourceAddress: "203.0.113.9"),
            CheckRequest(
                vault: vault,
                operation: .getSecret,
                objectName: "s",
                sourceAddress: "203.0.113.9",
                assertedIdentity: identity
            ),
            CheckRequest(
                vault: vault,
                operation: .getKeys,
                subnetId: "/subscriptions/5b5b5b5b-0000-4000-8000-000000000001/resourceGroups/rg-moat/providers/"
                    + "Microsoft.Network/virtualNetworks/vnet/subnets/app",
                assertedIdentity: identity
            ),
            CheckRequest(vault: vault, operation: .vaultsRead, assertedIdentity: identity),
        ]
    }
}
