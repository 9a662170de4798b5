package import MoatCore

/// The client's address as the check sees it (`docs/envoy.md`, "Source address").
///
/// Envoy's `source.address` is the TCP peer that connected to Envoy. When that peer is one of the
/// trusted proxies, the client is the rightmost `x-forwarded-for` entry that is not itself a trusted
/// proxy (each proxy appends the address it saw, so entries left of the first untrusted one could
/// have been written by the client). When every entry is a trusted proxy, the leftmost one is the
/// client. An untrusted peer's `x-forwarded-for` is never read.
package struct ClientAddress: Sendable {
    package let trustedProxies: [IPNetwork]

    package init(trustedProxies: [IPNetwork]) {
        self.trustedProxies = trustedProxies
    }

    /// The source address to check: `peer` itself, or what `forwardedFor` says when `peer` is a
    /// trusted proxy. An entry that is not an IP address ends the walk and is the answer, so the
    /// engine refuses it with a 400 rather than Moat guessing past it.
    package func source(peer: String, forwardedFor: String?) -> String {
        guard let forwardedFor, !trustedProxies.isEmpty, let address = IPAddress(peer), isTrusted(address) else {
            return peer
        }
        let entries = forwardedFor.split(separator: ",").map { $0.trimmingSpaces }.filter { !$0.isEmpty }
        for entry in entries.reversed() {
            guard let address = IPAddress(entry) else { return String(entry) }
            if !isTrusted(address) { return String(entry) }
        }
        return entries.first.map(String.init) ?? peer
    }

    private func isTrusted(_ address: IPAddress) -> Bool {
        trustedProxies.contains { $0.contains(address) }
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs (the optional whitespace of an HTTP list).
    var trimmingSpaces: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return self[endIndex...]
        }
        return self[start...last]
    }
}
