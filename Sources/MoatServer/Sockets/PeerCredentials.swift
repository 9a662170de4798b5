import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The process at the other end of a Unix socket connection (SO_PEERCRED), read at accept.
public struct PeerCredentials: Sendable, Hashable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    /// Reads the peer's credentials from a connected channel; `nil` when the socket has none.
    static func of(_ channel: any Channel) -> EventLoopFuture<PeerCredentials?> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture(nil)
        }
        let credentials: EventLoopFuture<UCred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET),
            name: SocketOptionName(SO_PEERCRED)
        )
        return credentials.map { PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid) }.recover { _ in nil }
    }
}

/// `struct ucred` of <sys/socket.h> (not imported: it needs _GNU_SOURCE).
private struct UCred: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// Which local peers a socket admits: uids and gids allowed (empty lists admit everyone).
public struct PeerPolicy: Sendable, Hashable {
    public var allowedUIDs: Set<UInt32>
    public var allowedGIDs: Set<UInt32>

    public init(allowedUIDs: Set<UInt32> = [], allowedGIDs: Set<UInt32> = []) {
        self.allowedUIDs = allowedUIDs
        self.allowedGIDs = allowedGIDs
    }

    /// Admits everyone (the socket's file mode still applies).
    public static let anyone = PeerPolicy()

    public func admits(_ peer: PeerCredentials?) -> Bool {
        if allowedUIDs.isEmpty && allowedGIDs.isEmpty { return true }
        guard let peer else { return false }
        return allowedUIDs.contains(peer.uid) || allowedGIDs.contains(peer.gid)
    }
}
