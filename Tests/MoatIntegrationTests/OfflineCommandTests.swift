import Foundation
import MoatCore
import Testing

/// The `moatctl` verbs that need no daemon, with the exit codes of README.md, "The rules": `validate`
/// 0 valid, 1 invalid, 2 usage or unreadable; `eval` 0 for any decision, 2 usage or unreadable.
@Suite("moatctl validate, eval and token")
struct OfflineCommandTests {
    static let exampleRules = packageRoot + "/deploy/examples/rules.json"
    static let demoKey = packageRoot + "/deploy/examples/demo-signing-key.pem"
    static let alice = "a11ce000-0000-4000-8000-000000000001"

    @Test("validate: 0 with a summary, 1 with one PATH: message line per error, 2 for a missing file")
    func validate() async throws {
        try await withSandbox { sandbox in
            let valid = try await sandbox.moatctl("validate", Self.exampleRules)
            #expect(valid.status == 0 && valid.stdout.hasPrefix("valid: 2 vaults"), "\(valid)")

            try sandbox.write(TestDocuments.invalid, to: sandbox.file("invalid.json"))
            let invalid = try await sandbox.moatctl("validate", sandbox.file("invalid.json"))
            let paths = invalid.stdout.split(separator: "\n").map { $0.prefix { $0 != ":" } }
            #expect(invalid.status == 1, "\(invalid)")
            #expect(
                paths == [
                    "vaults[0].properties.networkAcls.defaultAction", "vaults[0].properties.accessPolicies[0].objectId",
                ],
                "\(invalid)"
            )

            let notJSON = try await sandbox.moatctl("validate", "-", stdin: Array("{\"vaults\": [".utf8))
            #expect(notJSON.status == 1 && notJSON.stdout.hasPrefix("$"), "\(notJSON)")

            let missing = try await sandbox.moatctl("validate", sandbox.file("absent.json"))
            #expect(missing.status == 2 && missing.stderr.contains("absent.json"), "\(missing)")
        }
    }

    @Test("token mint signs with the demo key; eval decides allow and deny with exit 0, and refuses bad input with 2")
    func mintAndEval() async throws {
        try await withSandbox { sandbox in
            let mint = try await sandbox.moatctl("token", "mint", "--key", Self.demoKey, "--oid", Self.alice)
            let token = mint.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(mint.status == 0 && token.split(separator: ".").count == 3, "\(mint)")

            func eval(_ extra: String...) async throws -> (ToolResult, JSONValue?) {
                let result = try await sandbox.run(
                    moatctlPath,
                    ["eval", "--rules", Self.exampleRules, "--vault", "contoso-prod", "--token", token] + extra
                )
                return (result, try? JSONValue(parsing: Array(result.stdout.utf8)))
            }
            let (allowed, allow) = try await eval("--operation", "GetSecret", "--source", "203.0.113.9")
            #expect(allowed.status == 0 && allow?["decision"]?.stringValue == "ALLOW", "\(allowed)")

            let (denied, deny) = try await eval("--operation", "GetSecret", "--source", "198.51.100.7")
            #expect(denied.status == 0 && deny?["decision"]?.stringValue == "DENY", "\(denied)")
            #expect(deny?["innerCode"]?.stringValue == "ForbiddenByFirewall", "\(denied)")

            let (unknown, badRequest) = try await eval("--operation", "BrewCoffee", "--source", "203.0.113.9")
            #expect(unknown.status == 0 && badRequest?["httpStatus"] == .number("400"), "\(unknown)")

            let (later, expired) = try await eval(
                "--operation",
                "GetSecret",
                "--source",
                "203.0.113.9",
                "--now",
                "4102444800"
            )
            #expect(later.status == 0 && expired?["innerCode"]?.stringValue == "TokenExpired", "\(later)")

            try sandbox.write(TestDocuments.invalid, to: sandbox.file("invalid.json"))
            for rules in [sandbox.file("invalid.json"), sandbox.file("absent.json")] {
                let refused = try await sandbox.moatctl(
                    "eval",
                    "--rules",
                    rules,
                    "--vault",
                    "contoso-prod",
                    "--operation",
                    "GetSecret"
                )
                #expect(refused.status == 2 && refused.stdout.isEmpty, "\(refused)")
            }
            let invalid = try await sandbox.moatctl(
                "eval",
                "--rules",
                sandbox.file("invalid.json"),
                "--vault",
                "contoso-prod",
                "--operation",
                "GetSecret"
            )
            #expect(invalid.stderr.contains("vaults[0].properties.networkAcls.defaultAction: "), "\(invalid)")
        }
    }

    @Test(
        "eval --explain prints the decision stage by stage: what passed, the stage that refused, what was not reached"
    )
    func explain() async throws {
        try await withSandbox { sandbox in
            let mint = try await sandbox.moatctl("token", "mint", "--key", Self.demoKey, "--oid", Self.alice)
            let token = mint.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            func explained(_ source: String) async throws -> [String: String] {
                let result = try await sandbox.run(
                    moatctlPath,
                    [
                        "eval", "--rules", Self.exampleRules, "--vault", "contoso-prod", "--operation", "GetSecret",
                        "--source", source, "--token", token, "--explain",
                    ]
                )
                #expect(result.status == 0, "\(result)")
                // "Label   text" lines, the label padded to one width.
                return Dictionary(
                    result.stdout.split(separator: "\n").filter { !$0.hasPrefix(" ") }.map { line in
                        let label = line.prefix { $0 != " " }
                        return (String(label), line.dropFirst(label.count).trimmingCharacters(in: .whitespaces))
                    },
                    uniquingKeysWith: { first, _ in first }
                )
            }
            let denied = try await explained("198.51.100.7")
            #expect(denied["Request"] == "ok: GetSecret (data plane), from 198.51.100.7", "\(denied)")
            #expect(denied["Vault"] == "ok: contoso-prod found", "\(denied)")
            #expect(denied["Authentication"]?.hasPrefix("ok: token verified: appid=") == true, "\(denied)")
            #expect(denied["Network"]?.hasPrefix("REFUSED (ForbiddenByFirewall): ") == true, "\(denied)")
            #expect(denied["Authorization"] == "not reached", "\(denied)")
            #expect(denied["Result"]?.hasPrefix("DENY (403 Forbidden) on revision 1 (") == true, "\(denied)")

            let allowed = try await explained("203.0.113.9")
            #expect(allowed["Network"] == "admitted by IP rule 0 (203.0.113.0/24)", "\(allowed)")
            #expect(allowed["Authorization"]?.hasPrefix("granted by access policy ") == true, "\(allowed)")
            #expect(allowed["Result"]?.hasPrefix("ALLOW (200 OK) on revision 1 (") == true, "\(allowed)")
        }
    }

    @Test("token mint refuses out-of-range options and unusable keys with exit 2")
    func mintRefusals() async throws {
        try await withSandbox { sandbox in
            try sandbox.write(Array("not a key".utf8), to: sandbox.file("bad.pem"))
            for arguments in [
                ["--ttl", "0"], ["--ttl", "9223372036854775807"], ["--nbf", "-1"], ["--version", "3"],
                ["--key", sandbox.file("bad.pem")], ["--key", sandbox.file("absent.pem")],
            ] {
                let result = try await sandbox.run(moatctlPath, ["token", "mint", "--key", Self.demoKey] + arguments)
                #expect(
                    result.status == 2 && result.stdout.isEmpty && !result.stderr.isEmpty,
                    "\(arguments): \(result)"
                )
            }
        }
    }

    @Test("eval --request - reads standard input; a per-field flag overrides the same field of the request")
    func requestFromStandardInput() async throws {
        try await withSandbox { sandbox in
            let request = """
                {"vault": "contoso-prod", "operation": "GetSecret", "sourceAddress": "203.0.113.9",
                 "assertedIdentity": {"oid": "\(Self.alice)", "tid": "de300000-0000-4000-8000-000000000001"}}
                """
            let result = try await sandbox.moatctl(
                "eval",
                "--rules",
                Self.exampleRules,
                "--asserter",
                "--request",
                "-",
                "--operation",
                "DeleteSecret",
                stdin: Array(request.utf8)
            )
            let decision = try JSONValue(parsing: Array(result.stdout.utf8))
            #expect(result.status == 0 && decision["required"] == .string("secrets/delete"), "\(result)")

            for bad in [#"{"vault": 3}"#, #"{"vaultt": "contoso-prod"}"#, "{", #"{"vault": "a\u0000b"}"#] {
                let refused = try await sandbox.moatctl(
                    "eval",
                    "--rules",
                    Self.exampleRules,
                    "--request",
                    "-",
                    stdin: Array(bad.utf8)
                )
                #expect(refused.status == 2 && refused.stdout.isEmpty && !refused.stderr.isEmpty, "\(bad): \(refused)")
            }
        }
    }

    @Test("token mint writes the claims its flags name")
    func mintClaims() async throws {
        try await withSandbox { sandbox in
            let group = "90000000-0000-4000-8000-000000000001"
            let mint = try await sandbox.moatctl(
                "token",
                "mint",
                "--key",
                Self.demoKey,
                "--oid",
                Self.alice,
                "--appid",
                "app-1",
                "--tid",
                "tenant-1",
                "--aud",
                "https://vault.azure.us",
                "--groups",
                "\(group),g2",
                "--xms-mirid",
                "/subscriptions/s/x",
                "--nbf",
                "1800000000",
                "--ttl",
                "60",
                "--version",
                "2"
            )
            let segments = mint.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".")
            #expect(mint.status == 0 && segments.count == 3, "\(mint)")
            let payload = try #require(Base64URL.decode(String(segments[1])))
            let claims = try JSONValue(parsing: payload)
            #expect(claims["oid"] == .string(Self.alice) && claims["azp"] == .string("app-1"))
            #expect(claims["tid"] == .string("tenant-1") && claims["ver"] == .string("2.0"))
            #expect(claims["iss"] == .string("https://login.microsoftonline.com/tenant-1/v2.0"))
            #expect(claims["aud"] == .string("https://vault.azure.us"))
            #expect(claims["groups"] == .array([.string(group), .string("g2")]))
            #expect(claims["xms_mirid"] == .string("/subscriptions/s/x"))
            #expect(claims["nbf"] == .number("1800000000") && claims["exp"] == .number("1800000060"))
        }
    }

    @Test("check through the daemon prints exactly what eval prints for the same rules file")
    func checkMatchesEval() async throws {
        try await withSandbox { sandbox in
            try sandbox.write(try sandbox.read(Self.exampleRules), to: sandbox.rulesPath)
            let daemon = try await sandbox.startDaemon()
            let mint = try await sandbox.moatctl("token", "mint", "--key", Self.demoKey, "--oid", Self.alice)
            let token = mint.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            for (operation, source) in [
                ("GetSecret", "203.0.113.9"), ("GetSecret", "198.51.100.7"), ("Purge", "203.0.113.9"),
            ] {
                let fields = [
                    "--vault", "contoso-prod", "--operation", operation, "--source", source, "--token", token,
                ]
                let offline = try await sandbox.run(moatctlPath, ["eval", "--rules", sandbox.rulesPath] + fields)
                let online = try await sandbox.run(moatctlPath, ["check", "--socket", daemon.socket] + fields)
                #expect(offline.status == 0 && online.status == 0, "\(offline)\n\(online)")
                #expect(online.stdout == offline.stdout, "\(operation) from \(source)")
            }
            #expect(await daemon.stop() == .exit(0))
        }
    }
}
