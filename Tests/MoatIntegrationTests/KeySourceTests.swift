import Foundation
import MoatClient
import MoatCore
import MoatIdentity
import MoatWire
import Testing

extension MoatdIntegrationTests {
    /// Key sets kept current from a tenant's key source (docs/semantics.md, "Signing keys kept
    /// current"), here a `jwksFile`, so that the sanitized builds exercise the key manager, the
    /// key-set publication and the token cache while checks run. The HTTPS fetching is tested by
    /// Tests/Keys (`make keys-test`).
    @Suite("Key sets from a key source")
    struct KeySources {
        static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        static let pem = try! String(
            contentsOf: root.appendingPathComponent("deploy/examples/demo-signing-key.pem"),
            encoding: .utf8
        )
        static let first = try! TokenSigner(pem: pem, keyID: "first")
        static let second = try! TokenSigner(pem: pem, keyID: "second")

        static func jwks(_ signer: TokenSigner) -> [UInt8] {
            Array(JSONValue.object([("keys", .array([signer.publicJWK]))]).serialized().utf8)
        }

        static func request(_ signer: TokenSigner) -> CheckRequest {
            var request = TestDocuments.aliceGetsSecret()
            request.assertedIdentity = nil
            request.token = signer.sign(
                claims: .object([
                    ("aud", .string("https://vault.azure.net")),
                    ("iss", .string("https://sts.windows.net/\(TestDocuments.tenant)/")),
                    ("tid", .string(TestDocuments.tenant)),
                    ("oid", .string(TestDocuments.alice)),
                    ("exp", .number("4102444800")),
                ])
            )
            return request
        }

        @Test("a jwksFile rotated under load: every check decided, the new kid verifies, the old one stops")
        func rotationUnderLoad() async throws {
            try await withSandbox { sandbox in
                let keysFile = sandbox.file("keys.json")
                try sandbox.write(Self.jwks(Self.first), to: keysFile)
                let document = String(decoding: TestDocuments.allowing, as: UTF8.self).replacingOccurrences(
                    of: #""jwks": {"keys": []}"#,
                    with: #""jwksFile": "\#(keysFile)""#
                )
                try sandbox.write(Array(document.utf8), to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon(arguments: ["--state-dir", sandbox.path])
                try await eventually("the file's key set") {
                    try await daemon.control { try await $0.keys() }.first?.keyIDs == ["first"]
                }
                let status = try await daemon.status()
                #expect(status.tenantKeys.first?.origin == "file")
                #expect(status.tenantKeys.first?.source == "jwksFile \(keysFile)")

                let progress = LoadProgress()
                let socket = daemon.socket
                let undecided = try await withThrowingTaskGroup(of: [String].self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            await withMoatClient(socketPath: socket, configuration: .integrationTests(connections: 1)) {
                                client in
                                var undecided: [String] = []
                                while !progress.stopped {
                                    for signer in [Self.first, Self.second] {
                                        let result = await client.check(Self.request(signer))
                                        if result.decision == nil { undecided.append(result.summary) }
                                        progress.add()
                                    }
                                }
                                return undecided
                            }
                        }
                    }
                    try await progress.waitFor(40)
                    try sandbox.writeAtomically(Self.jwks(Self.second), to: keysFile)
                    try await eventually("the rotated key set", timeout: .seconds(60)) {
                        try await daemon.control { try await $0.keys() }.first?.keyIDs == ["second"]
                    }
                    try await progress.waitFor(40)
                    progress.finish()
                    return try await group.reduce(into: []) { $0 += $1 }
                }
                #expect(undecided.isEmpty)
                try await daemon.withClient { client in
                    #expect(await client.check(Self.request(Self.second)).isAllowed)
                    let old = await client.check(Self.request(Self.first)).decision
                    #expect(old?.outcome == .deny && old?.httpStatus == 401)
                }
            }
        }

        @Test("--state-dir must be a directory, --jwks-ca-file a readable file of PEM certificates")
        func flagsAreChecked() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let missing = sandbox.rulesPath + ".missing"
                for (arguments, message) in [
                    (["--state-dir", sandbox.rulesPath], "--state-dir: '\(sandbox.rulesPath)' is not a directory"),
                    (
                        ["--jwks-ca-file", sandbox.rulesPath],
                        "--jwks-ca-file: cannot read PEM certificates from '\(sandbox.rulesPath)'"
                    ),
                    (["--jwks-ca-file", missing], "--jwks-ca-file: cannot read PEM certificates from '\(missing)'"),
                ] {
                    let daemon = try await sandbox.startDaemon(arguments: arguments, wait: false)
                    let termination = await daemon.child.waitForExit(timeout: .seconds(60))
                    #expect(termination != nil && daemon.stderr().contains(message), "\(daemon.stderr())")
                }
            }
        }
    }
}
