import MoatWire
import NIOCore

/// A reply from etcd as moatd's etcd client reads it (docs/etcd.md, "The client"): the first byte
/// picks the message (`RangeResponse`, `TxnResponse`, `WatchResponse`, `LeaseGrantResponse`,
/// `LeaseKeepAliveResponse`, `AuthenticateResponse`) or a `PREFIX/document` value read as a
/// chunked document's manifest (hand-written parsing); the rest is its bytes.
///
/// Properties: decoding never traps, whatever the bytes; and a manifest that parses re-encodes to
/// one that parses to the same value.
enum EtcdFuzzing {
    static func run(_ input: [UInt8]) throws(OracleViolation) {
        guard let selector = input.first else { return }
        let rest = Array(input.dropFirst())
        let payload = ByteBuffer(bytes: rest)
        switch selector % 7 {
        case 0: _ = try? EtcdRangeResponse(wirePayload: payload)
        case 1: _ = try? EtcdTxnResponse(wirePayload: payload)
        case 2: _ = try? EtcdWatchResponse(wirePayload: payload)
        case 3: _ = try? EtcdLeaseGrantResponse(wirePayload: payload)
        case 4: _ = try? EtcdLeaseKeepAliveResponse(wirePayload: payload)
        case 5: _ = try? EtcdAuthenticateResponse(wirePayload: payload)
        default:
            guard let manifest = try? EtcdDocumentManifest(rest) else { return }
            let again = try? EtcdDocumentManifest(manifest.encoded)
            guard again == manifest else {
                throw OracleViolation("manifest \(manifest) re-encodes to one read as \(String(describing: again))")
            }
        }
    }
}
