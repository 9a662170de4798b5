/// Why a call to etcd failed (docs/etcd.md, "The client").
package struct EtcdError: Error, Sendable, Hashable, CustomStringConvertible {
    package enum Kind: Sendable, Hashable {
        /// No endpoint answered (down, unreachable, no leader, timed out): worth retrying later.
        case unavailable
        /// etcd refused the call (bad credentials, permission, a request it does not accept).
        case refused
        /// A watch started at a revision etcd has compacted: re-read, then watch from the read.
        case compacted(Int64)
        /// A lease etcd no longer knows (expired, revoked).
        case leaseExpired
        /// The configuration cannot work (an endpoint or a TLS file that is not one).
        case invalidConfiguration
    }

    package var kind: Kind
    package var message: String

    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    package var description: String { message }
}
