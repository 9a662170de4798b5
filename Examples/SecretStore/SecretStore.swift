import ArgumentParser
import MoatClient
import MoatCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// A tiny HTTP service that keeps secrets in memory and asks Moat before every operation, the
/// way a Key Vault-like service embeds `MoatClient`:
///
///     GET    /secrets          list names        (GetSecrets)
///     GET    /secrets/NAME     read a secret     (GetSecret)
///     PUT    /secrets/NAME     store the body    (SetSecret)
///     DELETE /secrets/NAME     delete a secret   (DeleteSecret)
///
/// The caller's token comes from `Authorization: Bearer …`, its address from the first
/// `X-Forwarded-For` entry (as behind a proxy) or the TCP peer. Denials are answered as Key Vault
/// answers them (status, error code, inner code, message, and the challenge on a 401).
@main
struct SecretStoreService: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moat-example-secret-store",
        abstract: "An in-memory secret store guarded by Moat (an example of MoatClient)."
    )

    @Option(help: "Moat's data socket.")
    var moatSocket = "run/moat.sock"

    @Option(help: "The vault this store stands for in Moat's rules.")
    var vault = "contoso-prod"

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8080

    func run() async throws {
        let store = Secrets()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel
                    )
                }
            }
        print("secret store for vault '\(vault)' on http://\(host):\(port), asking Moat at \(moatSocket)")
        try await withMoatClient(socketPath: moatSocket) { moat in
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask { await serve(connection, moat: moat, store: store) }
                    }
                }
            }
        }
    }

    private func serve(
        _ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
        moat: MoatClient,
        store: Secrets
    ) async {
        let peer = connection.channel.remoteAddress?.ipAddress ?? ""
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                    body.clear()
                case .body(var chunk):
                    body.writeBuffer(&chunk)
                case .end:
                    guard let head else { continue }
                    let reply = await handle(head, body: body, peer: peer, moat: moat, store: store)
                    var headers = HTTPHeaders([
                        ("content-type", "application/json"), ("content-length", String(reply.body.utf8.count)),
                    ])
                    if let challenge = reply.challenge { headers.add(name: "www-authenticate", value: challenge) }
                    try await outbound.write(
                        .head(HTTPResponseHead(version: head.version, status: reply.status, headers: headers))
                    )
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(string: reply.body))))
                    try await outbound.write(.end(nil))
                }
            }
        }
    }

    struct Reply {
        var status: HTTPResponseStatus
        var body: String
        var challenge: String?
    }

    private func handle(
        _ head: HTTPRequestHead,
        body: ByteBuffer,
        peer: String,
        moat: MoatClient,
        store: Secrets
    ) async -> Reply {
        let path = head.uri.split(separator: "?", maxSplits: 1)[0].split(separator: "/").map(String.init)
        guard path.first == "secrets", path.count <= 2 else {
            return Reply(status: .notFound, body: #"{"error":{"code":"NotFound"}}"#)
        }
        let name = path.count == 2 ? path[1] : ""
        let operation: Operation
        switch (head.method, name.isEmpty) {
        case (.GET, true): operation = .getSecrets
        case (.GET, false): operation = .getSecret
        case (.PUT, false): operation = .setSecret
        case (.DELETE, false): operation = .deleteSecret
        default: return Reply(status: .methodNotAllowed, body: #"{"error":{"code":"BadParameter"}}"#)
        }
        let forwarded = head.headers["x-forwarded-for"].first?.split(separator: ",").first.map {
            String($0.filter { $0 != " " })
        }
        let result = await moat.check(
            CheckRequest(
                vault: vault,
                operation: operation,
                objectName: name,
                sourceAddress: forwarded ?? peer,
                token: head.headers["authorization"].first ?? ""
            )
        )
        guard result.isAllowed else {
            guard let decision = result.decision else {
                return Reply(
                    status: .serviceUnavailable,
                    body: Self.error("ServiceUnavailable", nil, result.error?.message ?? "authorization unavailable")
                )
            }
            return Reply(
                status: HTTPResponseStatus(statusCode: decision.httpStatus),
                body: Self.error(decision.code.rawValue, decision.innerCode?.rawValue, decision.message),
                challenge: decision.wwwAuthenticate
            )
        }
        switch operation {
        case .getSecrets:
            let names = await store.names().map { JSONValue.string($0) }
            return Reply(status: .ok, body: JSONValue.object([("value", .array(names))]).serialized())
        case .getSecret:
            guard let value = await store.value(name) else {
                return Reply(status: .notFound, body: Self.error("SecretNotFound", nil, "no secret '\(name)'"))
            }
            return Reply(
                status: .ok,
                body: JSONValue.object([("name", .string(name)), ("value", .string(value))]).serialized()
            )
        case .setSecret:
            await store.set(name, String(buffer: body))
            return Reply(status: .ok, body: JSONValue.object([("name", .string(name))]).serialized())
        default:
            await store.delete(name)
            return Reply(status: .ok, body: JSONValue.object([("name", .string(name))]).serialized())
        }
    }

    /// Key Vault's error body.
    static func error(_ code: String, _ innerCode: String?, _ message: String) -> String {
        var error: [(key: String, value: JSONValue)] = [("code", .string(code)), ("message", .string(message))]
        if let innerCode { error.append(("innererror", .object([("code", .string(innerCode))]))) }
        return JSONValue.object([("error", .object(error))]).serialized()
    }
}

/// The secrets themselves.
actor Secrets {
    private var values: [String: String] = [:]

    func names() -> [String] { values.keys.sorted() }
    func value(_ name: String) -> String? { values[name] }
    func set(_ name: String, _ value: String) { values[name] = value }
    func delete(_ name: String) { values[name] = nil }
}
