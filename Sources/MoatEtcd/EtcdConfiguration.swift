/// How to reach etcd (docs/etcd.md, "The client"): the endpoints of one cluster, tried in turn,
/// TLS and a user name with password, all optional.
package struct EtcdConfiguration: Sendable, Hashable {
    /// One member's client address.
    package struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        package var host: String
        package var port: Int
        package var secure: Bool

        package var description: String {
            "\(secure ? "https" : "http")://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        }
    }

    /// Files in PEM format: the CA that signed etcd's certificates, and this client's certificate
    /// and key for etcd's client-certificate authentication.
    package struct TLS: Sendable, Hashable {
        package var caFile: String?
        package var certificateFile: String?
        package var keyFile: String?

        package init(caFile: String?, certificateFile: String?, keyFile: String?) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }
    }

    /// An etcd user (`Authenticate`); the token is renewed when etcd says it expired.
    package struct User: Sendable, Hashable {
        package var name: String
        package var password: String

        package init(name: String, password: String) {
            self.name = name
            self.password = password
        }
    }

    package var endpoints: [Endpoint]
    package var tls: TLS?
    package var user: User?
    /// How long one attempt of a call (not a watch or a keep-alive stream) may take on one endpoint.
    package var requestTimeout: Duration
    /// How long a call may take in all: every endpoint tried, then, while none answers, tried
    /// again (waiting for a reconnecting one) until this passes (`--etcd-timeout`).
    package var timeout: Duration
    package static let defaultTimeout = Duration.seconds(10)

    /// Parses `endpoints` (`http://host:port`, `https://host:port`, or `host:port`, which is
    /// https when `tls` is given), refusing what is not one with a message naming it.
    package init(
        endpoints: [String],
        tls: TLS? = nil,
        user: User? = nil,
        requestTimeout: Duration = .seconds(5),
        timeout: Duration = defaultTimeout
    ) throws(EtcdError) {
        guard !endpoints.isEmpty else { throw EtcdError(.invalidConfiguration, "no etcd endpoint is given") }
        if let tls, (tls.certificateFile == nil) != (tls.keyFile == nil) {
            throw EtcdError(
                .invalidConfiguration,
                "an etcd client certificate needs its key, and a key its certificate"
            )
        }
        self.endpoints = try endpoints.map { text throws(EtcdError) in try Self.endpoint(text, tls: tls != nil) }
        if tls == nil, let secure = self.endpoints.first(where: \.secure) {
            throw EtcdError(.invalidConfiguration, "etcd endpoint '\(secure)' is https, but no TLS option is given")
        }
        if tls != nil, let plain = self.endpoints.first(where: { !$0.secure }) {
            throw EtcdError(.invalidConfiguration, "etcd endpoint '\(plain)' is http, but TLS options are given")
        }
        self.tls = tls
        self.requestTimeout = requestTimeout
        self.timeout = timeout
        self.user = user
    }

    private static func endpoint(_ text: String, tls: Bool) throws(EtcdError) -> Endpoint {
        func refuse(_ why: String) -> EtcdError {
            EtcdError(
                .invalidConfiguration,
                "etcd endpoint '\(text)' \(why); expected http://HOST:PORT or https://HOST:PORT"
            )
        }
        var rest = Substring(text)
        var secure = tls
        if rest.hasPrefix("http://") {
            secure = false
            rest = rest.dropFirst("http://".count)
        } else if rest.hasPrefix("https://") {
            secure = true
            rest = rest.dropFirst("https://".count)
        } else if rest.contains("://") {
            throw refuse("has a scheme other than http or https")
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        let host: Substring
        let portText: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]"), rest[rest.index(after: close)...].hasPrefix(":") else {
                throw refuse("has no port")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            portText = rest[rest.index(close, offsetBy: 2)...]
        } else {
            guard let colon = rest.lastIndex(of: ":") else { throw refuse("has no port") }
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains("/"), !host.contains(" ") else { throw refuse("has no host") }
        guard let port = Int(portText), (1...65535).contains(port) else { throw refuse("has no valid port") }
        return Endpoint(host: String(host), port: port, secure: secure)
    }
}
