import AsyncHTTPClient
import MoatCore
import NIOCore
import NIOHTTP1
import NIOSSL

/// Fetches a tenant's JWKS over HTTPS (`docs/running.md`, "Signing keys"): through its OpenID
/// configuration's `jwks_uri`, or from a `jwksUri`; with `If-None-Match`, a timeout per request,
/// retries with backoff, at most `maximumRedirects` https-only redirects, and bodies of at most
/// `JSONWebKeySet.maximumBytes`.
///
/// Redirects are followed here rather than by the client, so that each target is checked like a
/// document's URI (`KeySource.httpsProblem`): there is no way from https to plain http.
struct KeyFetcher: Sendable {
    /// What a fetch found.
    enum Outcome: Sendable, Equatable {
        /// A JWKS document (not yet validated), the server's `ETag`, and its `max-age` in seconds.
        case document([UInt8], etag: String?, maxAge: Int?)
        /// The server confirmed the set sent as `If-None-Match` (HTTP 304).
        case notModified(maxAge: Int?)
    }

    /// Why a fetch failed, in words for logs and `moatctl status`.
    struct Failure: Error, Sendable, CustomStringConvertible {
        var message: String
        /// A connection error, a timeout, HTTP 5xx or 429: worth another attempt.
        var retryable: Bool

        var description: String { message }
    }

    static let maximumRedirects = 5

    let client: HTTPClient
    let configuration: KeysConfiguration

    /// A client on `group` trusting `configuration.caFile` (only), or the system trust store.
    static func makeClient(_ configuration: KeysConfiguration, group: any EventLoopGroup) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile = configuration.caFile {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        }
        return HTTPClient(
            eventLoopGroupProvider: .shared(group),
            configuration: HTTPClient.Configuration(
                tlsConfiguration: tls,
                redirectConfiguration: .disallow,
                timeout: .init(connect: .init(configuration.timeout), read: .init(configuration.timeout))
            )
        )
    }

    /// The source's JWKS; for an OpenID configuration, its `jwks_uri` first (each time: it may move).
    func fetch(_ source: KeySource, etag: String?) async throws(Failure) -> Outcome {
        switch source {
        case .jwksUri(let uri):
            return try await get(uri, etag: etag)
        case .openIdConfiguration(let uri):
            guard case .document(let bytes, _, _) = try await get(uri, etag: nil) else {
                throw Failure(message: "\(uri): HTTP 304 without If-None-Match", retryable: false)
            }
            let jwksURI: String
            do {
                jwksURI = try OpenIDConfiguration.jwksURI(parsing: bytes)
            } catch {
                throw Failure(message: "OpenID configuration \(uri) is invalid: \(error)", retryable: false)
            }
            return try await get(jwksURI, etag: etag)
        case .jwksFile(let path):
            throw Failure(message: "\(path) is a file, not fetched", retryable: false)
        }
    }

    /// One GET with retries: `configuration.retries` more attempts after a retryable failure, the
    /// waits doubling from `configuration.retryBackoff`.
    private func get(_ uri: String, etag: String?) async throws(Failure) -> Outcome {
        var wait = configuration.retryBackoff
        var attempt = 0
        while true {
            do throws(Failure) {
                return try await following(uri, etag: etag)
            } catch {
                guard error.retryable && attempt < configuration.retries else { throw error }
                attempt += 1
                do {
                    try await Task.sleep(for: wait)
                } catch {
                    throw Failure(message: "cancelled while retrying \(uri)", retryable: false)
                }
                wait = wait * 2
            }
        }
    }

    /// One attempt, following redirects.
    private func following(_ uri: String, etag: String?) async throws(Failure) -> Outcome {
        var target = uri
        var visited: [String] = []
        while true {
            visited.append(target)
            switch try await request(target, etag: etag) {
            case .done(let outcome):
                return outcome
            case .redirect(let location):
                let next = Self.resolve(location, against: target)
                if let problem = KeySource.httpsProblem(next) {
                    throw Failure(message: "\(target) redirects to \(next): \(problem)", retryable: false)
                }
                if visited.contains(next) {
                    throw Failure(
                        message: "redirect loop: \((visited + [next]).joined(separator: " -> "))",
                        retryable: false
                    )
                }
                guard visited.count <= Self.maximumRedirects else {
                    throw Failure(message: "more than \(Self.maximumRedirects) redirects from \(uri)", retryable: false)
                }
                target = next
            }
        }
    }

    private enum Step {
        case done(Outcome)
        case redirect(String)
    }

    /// One HTTP exchange, bounded by `configuration.timeout` from connecting to the body's last byte.
    private func request(_ uri: String, etag: String?) async throws(Failure) -> Step {
        var request = HTTPClientRequest(url: uri)
        request.headers.add(name: "Accept", value: "application/json")
        if let etag { request.headers.add(name: "If-None-Match", value: etag) }
        let deadline = NIODeadline.now() + TimeAmount(configuration.timeout)
        do {
            let response = try await client.execute(request, deadline: deadline)
            let maxAge = Self.maxAge(response.headers["Cache-Control"])
            switch response.status.code {
            case 200:
                let body = try await Self.collect(response.body, deadline: deadline)
                return .done(.document(body, etag: response.headers.first(name: "ETag"), maxAge: maxAge))
            case 304 where etag != nil:
                return .done(.notModified(maxAge: maxAge))
            case 301, 302, 303, 307, 308:
                guard let location = response.headers.first(name: "Location") else {
                    throw Failure(message: "\(uri): HTTP \(response.status.code) without a Location", retryable: false)
                }
                return .redirect(location)
            case let code:
                throw Failure(message: "\(uri): HTTP \(code)", retryable: code >= 500 || code == 429)
            }
        } catch let failure as Failure {
            throw failure
        } catch is NIOTooManyBytesError {
            throw Failure(
                message: "\(uri): response larger than \(JSONWebKeySet.maximumBytes) bytes",
                retryable: false
            )
        } catch {
            throw Failure(message: "\(uri): \(error)", retryable: true)
        }
    }

    /// The body, at most `JSONWebKeySet.maximumBytes`, by `deadline`.
    private static func collect(_ body: HTTPClientResponse.Body, deadline: NIODeadline) async throws -> [UInt8] {
        try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
            group.addTask {
                var buffer = try await body.collect(upTo: JSONWebKeySet.maximumBytes)
                return buffer.readBytes(length: buffer.readableBytes) ?? []
            }
            group.addTask {
                try await Task.sleep(for: .nanoseconds(max(0, (deadline - .now()).nanoseconds)))
                return nil
            }
            defer { group.cancelAll() }
            guard let bytes = try await group.next() ?? nil else { throw HTTPClientError.deadlineExceeded }
            return bytes
        }
    }

    /// `Location` made absolute: an absolute URI as is, a path on the same origin.
    static func resolve(_ location: String, against uri: String) -> String {
        guard location.hasPrefix("/"), !location.hasPrefix("//") else { return location }
        let scheme = "https://"
        let authority = uri.dropFirst(scheme.count).prefix { $0 != "/" && $0 != "?" }
        return scheme + authority + location
    }

    /// `max-age` of `Cache-Control` in seconds; 0 for `no-cache` or `no-store`; `nil` when absent.
    static func maxAge(_ values: [String]) -> Int? {
        let directives = values.flatMap { $0.split(separator: ",") }.map {
            $0.trimmingPrefix(while: \.isWhitespace).lowercased()
        }
        if directives.contains(where: { $0.hasPrefix("no-cache") || $0.hasPrefix("no-store") }) { return 0 }
        return directives.lazy.compactMap { directive -> Int? in
            guard directive.hasPrefix("max-age=") else { return nil }
            return Int(String(directive.dropFirst("max-age=".count).filter { !$0.isWhitespace }))
        }.first
    }
}
