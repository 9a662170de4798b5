import MoatCore

/// A request path split into segments, each percent-decoded once (`docs/envoy.md`, "Operation").
///
/// The query (`?api-version=7.5`, `$skiptoken=…`) and a fragment are dropped, the path is split on
/// `/` first and each segment decoded after, so an encoded slash (`%2F`) stays inside its segment;
/// one trailing slash is ignored (`/secrets/` is `/secrets`). A path that does not start with `/`,
/// a malformed escape or a segment that does not decode to UTF-8 is refused.
package enum RequestPath {
    package static func segments(_ path: String) -> Result<[String], HTTPMappingError> {
        var bytes = Substring(path).utf8[...]
        if let end = bytes.firstIndex(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) {
            bytes = bytes[..<end]
        }
        guard bytes.first == UInt8(ascii: "/") else {
            return .failure(HTTPMappingError("The request path \(Echo.quoted(path)) does not start with '/'."))
        }
        var parts = bytes.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        if parts.count > 1, parts.last?.isEmpty == true { parts.removeLast() }
        if parts.count == 1, parts[0].isEmpty { parts.removeAll() }
        var segments: [String] = []
        segments.reserveCapacity(parts.count)
        for part in parts {
            guard let segment = decode(part) else {
                return .failure(
                    HTTPMappingError(
                        "The request path \(Echo.quoted(path)) has a malformed percent-escape or is not UTF-8 once decoded."
                    )
                )
            }
            segments.append(segment)
        }
        return .success(segments)
    }

    /// `part` with each `%XX` replaced by its byte; `nil` for a malformed escape or bytes that are
    /// not UTF-8.
    private static func decode(_ part: Substring.UTF8View.SubSequence) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(part.count)
        var index = part.startIndex
        while index < part.endIndex {
            let byte = part[index]
            guard byte == UInt8(ascii: "%") else {
                out.append(byte)
                index = part.index(after: index)
                continue
            }
            let high = part.index(after: index)
            guard high < part.endIndex else { return nil }
            let low = part.index(after: high)
            guard low < part.endIndex, let h = IPAddress.hexValue(part[high]), let l = IPAddress.hexValue(part[low])
            else { return nil }
            out.append(h << 4 | l)
            index = part.index(after: low)
        }
        return String(validating: out, as: UTF8.self)
    }
}
