/// The operators' HTTP endpoints (`GET /metrics`, `/healthz`, `/readyz`, `/status`;
/// docs/running.md, "Health and metrics over HTTP"): where they listen and the limits that keep
/// the port from holding the daemon. Off unless an address, a socket or a systemd socket is given.
package struct HTTPConfiguration: Sendable {
    /// `--http-listen`: a loopback address unless `--http-listen-any` was given.
    package var listen: EnvoyConfiguration.TCPAddress?
    /// `--http-socket`, `--http-socket-mode` (group: `--socket-group`).
    package var socket: SocketConfiguration?
    /// `--http-max-connections`: connections open at once (on all HTTP listeners); more are
    /// answered 503 and closed.
    package var maximumConnections = 16
    /// `--http-timeout`: how long a connection may take from accept to its answer being written
    /// (a request that has not arrived in full by then is answered 408). One request per
    /// connection: every answer says `Connection: close`.
    package var timeout: Duration = .seconds(10)

    /// A request (line and headers) larger than this is answered 431.
    package static let maximumRequestBytes = 16 * 1024

    package init() {}

    package var isEnabled: Bool { listen != nil || socket != nil }
}
