import Foundation
import MoatClient
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension MoatdIntegrationTests {
    /// Who may use the sockets (docs/protocol.md "Sockets"): a process of a uid not on a socket's
    /// allow-list is refused by its credentials (SO_PEERCRED), not merely by the file system; the
    /// socket files have the documented modes and owners. Run as root (as here and in CI), to
    /// start processes as other uids with `setpriv`.
    @Suite(
        "Socket security",
        .enabled(
            if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
            "needs root and setpriv (util-linux) to connect as another uid"
        )
    )
    struct SocketSecurity {
        /// A uid with no account, on no allow-list.
        static let outsider: UInt32 = 54_321

        /// A sandbox the outsider can use: the directory traversable, with a copy of `moatctl`
        /// it may run (the build folder may not be open to it).
        static func openSandbox(_ sandbox: Sandbox) throws -> String {
            #expect(chmod(sandbox.path, 0o755) == 0)
            let copy = sandbox.file("moatctl")
            try FileManager.default.copyItem(atPath: moatctlPath, toPath: copy)
            #expect(chmod(copy, 0o755) == 0)
            return copy
        }

        /// Runs `moatctl arguments` as `uid` (its own group, no supplementary groups).
        static func moatctl(
            _ sandbox: Sandbox,
            _ copy: String,
            as uid: UInt32,
            _ arguments: [String]
        ) async throws
            -> ToolResult
        {
            try await sandbox.run(
                "/usr/bin/setpriv",
                ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", copy] + arguments,
                timeout: .seconds(60)
            )
        }

        static func check(_ daemon: DaemonProcess) -> [String] {
            ["check", "--socket", daemon.socket, "--vault", TestDocuments.vault, "--operation", "GetSecret"]
        }

        static func status(_ daemon: DaemonProcess) -> [String] {
            ["status", "--control-socket", daemon.controlSocket]
        }

        @Test(
            "a uid not on the allow-list is refused PERMISSION_DENIED on the data and control sockets, by SO_PEERCRED"
        )
        func outsiderRefused() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                let copy = try Self.openSandbox(sandbox)
                // Both sockets open to anyone by mode: only the allow-lists stand in the way.
                let permissive = ["--socket-mode", "0666", "--control-socket-mode", "0666"]
                let guarded = try await sandbox.startDaemon(arguments: permissive + ["--allow-uid", "0"])
                let data = try await Self.moatctl(sandbox, copy, as: Self.outsider, Self.check(guarded))
                #expect(
                    (data.stdout + data.stderr).contains("PERMISSION_DENIED")
                        && (data.stdout + data.stderr).contains(
                            "uid \(Self.outsider) is not allowed on the data socket"
                        ),
                    "\(data)"
                )
                let control = try await Self.moatctl(sandbox, copy, as: Self.outsider, Self.status(guarded))
                #expect(control.status != 0, "\(control)")
                #expect(
                    control.stderr.contains("uid \(Self.outsider) is not allowed on the control socket"),
                    "\(control)"
                )
                try await HostileLoad.expectRefusals(guarded, "peer_not_allowed", atLeast: 2)

                // The same uid, once allowed, is served on both: it was the allow-list that refused.
                let open = try await sandbox.startDaemon(
                    socket: sandbox.file("open.sock"),
                    controlSocket: sandbox.file("open-control.sock"),
                    arguments: permissive + [
                        "--allow-uid", "\(Self.outsider)", "--control-allow-uid", "\(Self.outsider)",
                        // root too: the harness asks the control socket whether the daemon is up.
                        "--control-allow-uid", "0",
                    ]
                )
                let decided = try await Self.moatctl(sandbox, copy, as: Self.outsider, Self.check(open))
                #expect(decided.status == 0 && decided.stdout.contains("\"decision\""), "\(decided)")
                let served = try await Self.moatctl(sandbox, copy, as: Self.outsider, Self.status(open))
                #expect(served.status == 0 && served.stdout.contains("ready:"), "\(served)")
            }
        }

        @Test("the socket files: 0660 and 0600, owned by moatd's uid and group, or --socket-group")
        func modesAndOwners() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(TestDocuments.allowing, to: sandbox.rulesPath)
                for group in [nil, UInt32(4242)] {
                    let daemon = try await sandbox.startDaemon(
                        arguments: group.map { ["--socket-group", "\($0)"] } ?? []
                    )
                    for (path, mode) in [(daemon.socket, UInt32(0o660)), (daemon.controlSocket, 0o600)] {
                        var info = stat()
                        #expect(lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK)
                        #expect(UInt32(info.st_mode & 0o7777) == mode, "\(path): \(String(info.st_mode, radix: 8))")
                        #expect(info.st_uid == getuid(), "\(path) owned by uid \(info.st_uid)")
                        #expect(info.st_gid == group ?? getgid(), "\(path) has group \(info.st_gid)")
                    }
                    #expect(await daemon.stop() == .exit(0))
                }
            }
        }
    }
}
