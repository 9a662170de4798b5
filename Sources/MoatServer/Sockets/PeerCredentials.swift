import MoatWire
import NIOCore

#if canImport(Glibc)
import Glibc
#endif
// C types (`stat`, `dirent`) are also declared through CoreFoundation, which the etcd client's TLS
// stack loads into this module: imported here, so that their members resolve in this file.
#if canImport(CoreFoundation)
import CoreFoundation
#endif

/// The process at the other end of a Unix socket connection (SO_PEERCRED), read at accept.
struct PeerCredentials: Sendable, Hashable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32

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

    /// Reads a new connection's peer and admits it by `policy`: the peer, or nil after refusing
    /// the connection with PERMISSION_DENIED on stream 0 (counted), when the policy does not admit
    /// it or its credentials cannot be read (a peer nobody can identify is never admitted).
    static func admit(
        _ channel: any Channel,
        by policy: PeerPolicy,
        on socket: SocketKind,
        metrics: ServerMetrics
    ) -> EventLoopFuture<PeerCredentials?> {
        of(channel).map { peer in
            guard let peer else {
                metrics.countRefusal(.peerCredentialsUnreadable)
                StatusFrame.refuse(
                    channel,
                    .permissionDenied,
                    "the peer's credentials (SO_PEERCRED) cannot be read; refused on the \(socket) socket"
                )
                return nil
            }
            guard policy.admits(peer) else {
                metrics.countRefusal(.peerNotAllowed)
                StatusFrame.refuse(channel, .permissionDenied, "uid \(peer.uid) is not allowed on the \(socket) socket")
                return nil
            }
            return peer
        }
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

    func admits(_ peer: PeerCredentials) -> Bool {
        if allowedUIDs.isEmpty && allowedGIDs.isEmpty { return true }
        return allowedUIDs.contains(peer.uid) || allowedGIDs.contains(peer.gid)
    }
}
