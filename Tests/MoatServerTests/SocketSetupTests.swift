import Foundation
import MoatSockets
import MoatWire
import Testing

@testable import MoatServer

#if canImport(Glibc)
import Glibc
#endif

/// Setting up the listening sockets: descriptors passed by systemd (L6) and the socket file's
/// group (L3), docs/protocol.md "Sockets".
@Suite("Socket setup")
struct SocketSetupTests {
    static func socket(_ domain: Int32, _ type: __socket_type) throws -> Int32 {
        let fd = Glibc.socket(domain, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0, "socket: \(String(cString: strerror(errno)))")
        return fd
    }

    /// The error `SystemdSockets.listener` gives for `fd` passed as `moat`, or nil if it accepts it.
    static func refusal(_ fd: Int32) -> String? {
        do {
            _ = try SystemdSockets(descriptors: [SystemdSockets.dataName: fd]).listener(SystemdSockets.dataName)
            return nil
        } catch {
            return error.description
        }
    }

    @Test("L6: a passed descriptor that is not a listening Unix stream socket is refused, naming it and why")
    func systemdDescriptorsTypeChecked() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let datagram = try Self.socket(AF_UNIX, SOCK_DGRAM)
            let inet = try Self.socket(AF_INET, SOCK_STREAM)
            #expect(Glibc.listen(inet, 1) == 0)
            let unconnected = try Self.socket(AF_UNIX, SOCK_STREAM)
            let file = open("\(directory)/plain", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            let listening = try UnixDomainSocket.listen(on: "\(directory)/ok.sock", backlog: 1)
            defer { for fd in [datagram, inet, unconnected, file, listening] { close(fd) } }

            for (fd, why) in [
                (datagram, "type SOCK_DGRAM"), (inet, "domain AF_INET"), (unconnected, "not listening"),
                (file, "not a usable socket"),
            ] {
                let refusal = Self.refusal(fd)
                #expect(refusal?.contains("systemd socket 'moat' (fd \(fd))") == true, "\(String(describing: refusal))")
                #expect(refusal?.contains(why) == true, "\(String(describing: refusal))")
            }
            #expect(Self.refusal(listening) == nil)
            #expect(try SystemdSockets(descriptors: [:]).listener(SystemdSockets.dataName) == nil)
        }
    }

    @Test(
        "L3: the socket's group is set on the path itself, never through a symbolic link put there",
        .enabled(if: getuid() == 0, "needs root, to give files a group it is not in")
    )
    func groupNotThroughSymlink() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let target = "\(directory)/target"
            let link = "\(directory)/moat.sock"
            Fixture.write(Array("precious".utf8), to: target)
            #expect(chmod(target, 0o600) == 0)
            #expect(symlink(target, link) == 0)
            try UnixSocketPath.applyGroup(link, group: 4242)
            var info = stat()
            #expect(stat(target, &info) == 0)
            #expect(info.st_gid == getgid() && info.st_mode & 0o7777 == 0o600, "the link's target was changed")
            #expect(lstat(link, &info) == 0 && info.st_gid == 4242)
        }
    }
}
