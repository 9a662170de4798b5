import MoatCore
import MoatWire
import NIOHTTP1

/// What each operator endpoint answers (docs/running.md, "Health and metrics over HTTP"),
/// read-only: `GET`/`HEAD` of `/metrics`, `/healthz`, `/readyz` and `/status`; 404 for any other
/// path, 405 for another method, 413 for a request with a body.
struct HTTPRoutes: Sendable {
    let updater: RuleUpdater
    let keys: KeyManager
    let metrics: ServerMetrics

    /// One answer: status, content type, body (left out of a HEAD answer by the handler).
    struct Answer: Sendable {
        var status: HTTPResponseStatus
        var contentType: String
        var body: String
        var allow: String?
    }

    static let prometheusText = "text/plain; version=0.0.4; charset=utf-8"
    static let json = "application/json"
    static let text = "text/plain; charset=utf-8"
    static let paths: Set<Substring> = ["/metrics", "/healthz", "/readyz", "/status"]

    func answer(_ head: HTTPRequestHead) async -> Answer {
        if head.headers.contains(name: "transfer-encoding")
            || head.headers["content-length"].contains(where: { $0 != "0" })
        {
            return Answer(
                status: .payloadTooLarge,
                contentType: Self.text,
                body: "these endpoints take no request body\n"
            )
        }
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard Self.paths.contains(path) else {
            return Answer(status: .notFound, contentType: Self.text, body: "no such endpoint: \(path)\n")
        }
        guard head.method == .GET || head.method == .HEAD else {
            return Answer(
                status: .methodNotAllowed,
                contentType: Self.text,
                body: "\(path) is read-only: GET or HEAD\n",
                allow: "GET, HEAD"
            )
        }
        switch path {
        case "/metrics":
            return Answer(status: .ok, contentType: Self.prometheusText, body: metrics.text())
        case "/healthz":
            return Answer(status: .ok, contentType: Self.text, body: "ok\n")
        case "/readyz":
            let status = await updater.status()
            let body = JSONValue.object([
                ("ready", .bool(status.ready)),
                ("reason", status.notReadyReason.map { .string($0) } ?? .null),
            ])
            return Answer(
                status: status.ready ? .ok : .serviceUnavailable,
                contentType: Self.json,
                body: body.serialized() + "\n"
            )
        default:
            let status = await StatusResponse.current(updater: updater, keys: keys)
            return Answer(
                status: .ok,
                contentType: Self.json,
                body: status.json(nowMillis: WallClock.millis()).serialized(.pretty) + "\n"
            )
        }
    }
}
