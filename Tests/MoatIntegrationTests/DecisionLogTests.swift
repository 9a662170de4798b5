import Foundation
import MoatClient
import MoatCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension MoatdIntegrationTests {
    /// docs/semantics.md, "What a decision reports": one JSON line per logged decision, with Key Vault's audit fields.
    @Suite("Decision log")
    struct DecisionLogRecords {
        @Test("an allow and a deny are written with the audit fields, the revision and the peer")
        func records() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let logPath = sandbox.file("audit.log")
                let daemon = try await sandbox.startDaemon(
                    arguments: ["--decision-log", logPath, "--log-allow-rate", "1"] + TestDocuments.asserterArguments
                )
                var allowed = TestDocuments.aliceGetsSecret()
                allowed.requestId = "req-allow"
                var denied = allowed
                denied.requestId = "req-deny"
                denied.assertedIdentity?.oid = "b0b00000-0000-4000-8000-000000000009"
                try await daemon.withClient { client in
                    #expect(await client.check(allowed).decision?.outcome == .allow)
                    #expect(await client.check(denied).decision?.innerCode == .accessDenied)
                }
                #expect(await daemon.stop() == .exit(0))

                let text = String(decoding: try sandbox.read(logPath), as: UTF8.self)
                let records = try text.split(separator: "\n").map { try JSONValue(parsing: Array($0.utf8)) }
                #expect(records.count == 2, "\(text)")
                let allow = try #require(records.first { $0["correlationId"]?.stringValue == "req-allow" }, "\(text)")
                let deny = try #require(records.first { $0["correlationId"]?.stringValue == "req-deny" }, "\(text)")
                let revision: JSONValue = .object([
                    ("sequence", .number("1")), ("hash", .string(TestDocuments.hash(TestDocuments.allowing))),
                ])
                let peer: JSONValue = .object([
                    ("pid", .number(String(getpid()))), ("uid", .number(String(getuid()))),
                ])
                for (record, signature, status, innerCode, match) in [
                    (allow, "OK", "200", JSONValue.null, true),
                    (deny, "Forbidden", "403", .string("AccessDenied"), false),
                ] {
                    #expect(record["vault"]?.stringValue == TestDocuments.vault)
                    #expect(record["operationName"]?.stringValue == "GetSecret")
                    #expect(record["resultSignature"]?.stringValue == signature)
                    #expect(record["httpStatusCode"] == .number(status))
                    #expect(record["innerCode"] == innerCode)
                    #expect(record["callerIpAddress"]?.stringValue == "203.0.113.9")
                    #expect(record["addressAuthorizationType"]?.stringValue == "DefaultAllow")
                    #expect(record["isAddressAuthorized"] == .bool(true))
                    #expect(record["isAccessPolicyMatch"] == .bool(match))
                    #expect(record["enableRbacAuthorization"] == .bool(false))
                    #expect(record["identity"]?["tid"]?.stringValue == TestDocuments.tenant)
                    #expect(record["revision"] == revision)
                    #expect(record["peer"] == peer)
                    #expect(record["time"]?.stringValue?.hasSuffix("Z") == true)
                    #expect((record["durationMicros"]?.int64Value ?? -1) >= 0)
                }
                #expect(allow["identity"]?["oid"]?.stringValue == TestDocuments.alice)
                #expect(allow["message"] == .null && deny["message"]?.stringValue?.isEmpty == false)
            }
        }
    }
}
