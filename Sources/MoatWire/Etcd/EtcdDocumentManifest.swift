/// The manifest of a document stored in etcd in chunks (docs/etcd.md, "Keys"): the line
/// `moat-chunks v1`, then `hash H`, `size N` and one `chunk C` line per chunk, in order.
package struct EtcdDocumentManifest: Sendable, Hashable {
    /// Why a value that starts as a manifest is not one.
    package struct Malformed: Error, Sendable, Hashable {
        package var message: String
    }

    static let header = Array("moat-chunks v1\n".utf8)

    /// The document's revision hash.
    package var hash: String
    /// The document's size in bytes.
    package var size: Int
    /// The hashes of its chunks, in order.
    package var chunks: [String]

    package init(hash: String, size: Int, chunks: [String]) {
        self.hash = hash
        self.size = size
        self.chunks = chunks
    }

    /// The manifest `value` holds; nil when it is a document (a JSON document cannot start with
    /// the header); throws when it starts with the header but is not a manifest.
    package init?(_ value: [UInt8]) throws(Malformed) {
        guard value.starts(with: Self.header) else { return nil }
        let lines = String(decoding: value.dropFirst(Self.header.count), as: UTF8.self).split(separator: "\n")
        var hash: String?
        var size: Int?
        var chunks: [String] = []
        for line in lines {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, !fields[1].isEmpty else {
                throw Malformed(message: "the document manifest has a bad line '\(line.prefix(100))'")
            }
            switch fields[0] {
            case "hash" where hash == nil: hash = String(fields[1])
            case "size" where size == nil: size = Int(fields[1])
            case "chunk": chunks.append(String(fields[1]))
            default: throw Malformed(message: "the document manifest has a bad line '\(line.prefix(100))'")
            }
        }
        guard let hash, let size, size > 0, !chunks.isEmpty else {
            throw Malformed(message: "the document manifest lacks its hash, size or chunks")
        }
        self.init(hash: hash, size: size, chunks: chunks)
    }

    /// The value stored in etcd.
    package var encoded: [UInt8] {
        Self.header
            + Array((["hash \(hash)", "size \(size)"] + chunks.map { "chunk \($0)" }).joined(separator: "\n").utf8)
            + [0x0a]
    }
}
