import Foundation
import MoatIdentity
import Testing

@testable import MoatCore

/// The files shipped in deploy/ stay valid and in step with the engine.
@Suite("deploy/")
struct DeployFilesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func bytes(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: root.appendingPathComponent(path)))
    }

    @Test("trusted-services.json is the engine's default catalog")
    func trustedServices() throws {
        let shipped = try JSONValue(parsing: try Self.bytes("deploy/trusted-services.json"))
        let builtIn = try JSONValue(parsing: TrustedService.defaultCatalogJSON)
        #expect(shipped == builtIn)
        #expect(TrustedService.defaultCatalog.count == builtIn.arrayValue?.count)
    }

    @Test("the example rules are valid and accept the demo key's tokens")
    func exampleRules() throws {
        let rules = try LoadedRules(json: try Self.bytes("deploy/examples/rules.json"), sequence: 1)
        #expect(rules.snapshot.vaultNames == ["contoso-prod", "contoso-rbac"])
        let pem = String(decoding: try Self.bytes("deploy/examples/demo-signing-key.pem"), as: UTF8.self)
        let signer = try TokenSigner(pem: pem)
        let token = signer.sign(
            claims: .object([
                ("aud", .string("https://vault.azure.net")),
                ("iss", .string("https://sts.windows.net/de300000-0000-4000-8000-000000000001/")),
                ("tid", .string("de300000-0000-4000-8000-000000000001")),
                ("oid", .string("a11ce000-0000-4000-8000-000000000001")),
                ("exp", .number("4102444800")),
            ])
        )
        let request = CheckRequest(
            vault: "contoso-prod",
            operation: .getSecret,
            sourceAddress: "203.0.113.9",
            token: token
        )
        let decision = rules.snapshot.evaluate(
            request,
            verifier: rules.verifier,
            context: EvaluationContext(now: 1_800_000_000)
        )
        #expect(decision.outcome == .allow)
        #expect(decision.admittedBy?.kind == .ipRule)
    }
}
