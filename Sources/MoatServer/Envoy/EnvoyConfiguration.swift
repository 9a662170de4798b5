package import MoatCore

/// The Envoy ext_authz service (docs/envoy.md): where it listens and how it reads requests. Off
/// unless a socket or a TCP address is given.
package struct EnvoyConfiguration: Sendable {
    /// `--envoy-socket`, `--envoy-socket-mode`, `--envoy-allow-uid`, `--envoy-allow-gid`.
    package var socket: SocketConfiguration?
    /// `--envoy-listen`: a loopback address unless `--envoy-listen-any` was given.
    package var listen: TCPAddress?
    /// `--envoy-trusted-proxy`: peers whose `x-forwarded-for` is read.
    package var trustedProxies: [IPNetwork] = []
    /// `--envoy-error-response`: answer "could not decide" with `error_response` (503 and
    /// `retry-after`) rather than the gRPC status UNAVAILABLE.
    package var answersErrorResponse = false

    /// Check requests larger than this are read past, not kept, and answered 400 (docs/envoy.md,
    /// "Request faults").
    package static let maximumRequestBytes = 16 << 20
    /// The longest message moatd reads past for that 400; a message declaring more is not read at
    /// all and is answered RESOURCE_EXHAUSTED (no Envoy sends one: its own limits are far lower).
    package static let transportPayloadLimit = 64 << 20

    package init() {}

    package var isEnabled: Bool { socket != nil || listen != nil }

    /// A TCP address to listen on.
    package struct TCPAddress: Sendable, Hashable, CustomStringConvertible {
        package var host: String
        package var port: Int

        package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

        /// What listens on the address, for the refusal of a non-loopback one: why loopback is
        /// the default, and the flag that allows any address.
        package struct Listener: Sendable {
            package var reason: String
            package var anyFlag: String

            /// `--envoy-listen`.
            package static let envoy = Listener(
                reason: "the Envoy service has no TLS and no peer check on TCP",
                anyFlag: "--envoy-listen-any"
            )
            /// `--http-listen`.
            package static let http = Listener(
                reason: "the HTTP endpoints have no TLS and no peer check",
                anyFlag: "--http-listen-any"
            )
        }

        /// `--envoy-listen`'s address: `init(parsing:for:allowAny:)` for the Envoy service.
        package init(parsing text: String, allowAny: Bool) throws(EnvoyConfigurationError) {
            try self.init(parsing: text, for: .envoy, allowAny: allowAny)
        }

        /// Parses `HOST:PORT` or `[IPv6]:PORT`, where HOST is an IP address. A non-loopback
        /// address is refused unless `allowAny`, naming `listener`'s flag.
        package init(parsing text: String, for listener: Listener, allowAny: Bool) throws(EnvoyConfigurationError) {
            let host: Substring
            let port: Substring
            if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
                host = text[text.index(after: text.startIndex)..<close]
                let rest = text[text.index(after: close)...]
                guard rest.hasPrefix(":") else { throw EnvoyConfigurationError("'\(text)' has no :PORT") }
                port = rest.dropFirst()
            } else if let colon = text.lastIndex(of: ":") {
                host = text[..<colon]
                port = text[text.index(after: colon)...]
            } else {
                throw EnvoyConfigurationError("'\(text)' is not HOST:PORT")
            }
            guard let address = IPAddress(host) else {
                throw EnvoyConfigurationError("'\(host)' in '\(text)' is not an IP address")
            }
            guard let number = Int(port), (1...65535).contains(number) else {
                throw EnvoyConfigurationError("'\(port)' in '\(text)' is not a port from 1 to 65535")
            }
            guard allowAny || Self.isLoopback(address) else {
                throw EnvoyConfigurationError(
                    "'\(text)' is not a loopback address: \(listener.reason); give \(listener.anyFlag) to listen there anyway"
                )
            }
            self.host = String(host)
            self.port = number
        }

        private static func isLoopback(_ address: IPAddress) -> Bool {
            switch address {
            case .v4(let value): value >> 24 == 127
            case .v6(let value): value == 1
            }
        }
    }
}

/// A flag value the Envoy service cannot use, and why.
package struct EnvoyConfigurationError: Error, CustomStringConvertible, Sendable {
    package let description: String

    init(_ description: String) {
        self.description = description
    }
}
