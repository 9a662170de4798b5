import Foundation
import MoatClient
import MoatCore
import MoatTestSupport
import MoatWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension MoatdIntegrationTests {
    /// docs/rules.md "Write-back": a change written back keeps the rules file's owner, group and
    /// mode (a new file is 0640), and one that cannot be written changes nothing.
    @Suite("Rules file write-back")
    struct WriteBack {
        static func owner(_ path: String) -> (uid: uid_t, gid: gid_t, mode: mode_t)? {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            return (info.st_uid, info.st_gid, info.st_mode & 0o7777)
        }

        @Test(
            "a change written back keeps the file's owner, group and mode",
            .enabled(if: getuid() == 0, "needs root to give the rules file another owner")
        )
        func keepsOwnership() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                #expect(chown(sandbox.rulesPath, 1234, 5678) == 0 && chmod(sandbox.rulesPath, 0o604) == 0)
                let daemon = try await sandbox.startDaemon()
                let add = try await Self.addIpRule(sandbox, daemon)
                #expect(add.status == 0, "\(add)")
                #expect(
                    String(decoding: try sandbox.read(sandbox.rulesPath), as: UTF8.self).contains("198.51.100.0/24")
                )
                let after = try #require(Self.owner(sandbox.rulesPath))
                #expect(after.uid == 1234 && after.gid == 5678 && after.mode == 0o604, "\(after)")
            }
        }

        @Test("a rules file created by a push is 0640")
        func newFileMode() async throws {
            try await withSandbox { sandbox in
                let daemon = try await sandbox.startDaemon()
                let document = sandbox.file("pushed.json")
                try sandbox.write(TestDocuments.allowing, to: document)
                let push = try await sandbox.moatctl("push", "--control-socket", daemon.controlSocket, document)
                #expect(push.status == 0, "\(push)")
                #expect(try sandbox.read(sandbox.rulesPath) == TestDocuments.allowing)
                #expect(Self.owner(sandbox.rulesPath)?.mode == 0o640)
            }
        }

        @Test(
            "a full file system refuses a change with RESOURCE_EXHAUSTED and the errno text; nothing changes",
            .enabled(if: FullFileSystem.isAvailable, "needs to mount a tmpfs (root, and a kernel that lets it)")
        )
        func noSpace() async throws {
            try await withSandbox { sandbox in
                try await FullFileSystem.withRoomForOneSmallFile(at: sandbox.file("full")) { mount in
                    let rules = mount + "/rules.json"
                    try sandbox.write(TestDocuments.allowing, to: rules)
                    let daemon = try await sandbox.startDaemon(rules: rules)
                    let serving = try #require(try await daemon.status().revision)

                    let add = try await Self.addIpRule(sandbox, daemon)
                    #expect(add.status == 1, "\(add)")
                    #expect(add.stderr.contains("No space left on device"), "\(add)")
                    #expect(try await daemon.status().revision == serving)
                    #expect(try sandbox.read(rules) == TestDocuments.allowing)
                    #expect(
                        try FileManager.default.contentsOfDirectory(atPath: mount).sorted() == ["filler", "rules.json"]
                    )
                    // The status code itself, through the control client.
                    let refused = await #expect(throws: MoatClientError.self) {
                        try await daemon.control {
                            try await $0.apply(.addIpRule(vault: TestDocuments.vault, value: "198.51.100.0/24"))
                        }
                    }
                    #expect(refused?.status == .resourceExhausted, "\(String(describing: refused))")
                    #expect(await daemon.stop() == .exit(0))
                }
            }
        }

        /// `moatctl network-rule add` of 198.51.100.0/24 to the test vault.
        static func addIpRule(_ sandbox: Sandbox, _ daemon: DaemonProcess) async throws -> ToolResult {
            try await sandbox.moatctl(
                "network-rule",
                "add",
                "--control-socket",
                daemon.controlSocket,
                "--vault",
                TestDocuments.vault,
                "--ip-address",
                "198.51.100.0/24"
            )
        }
    }
}
