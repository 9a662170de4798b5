import MoatCore
import MoatKeyVaultHTTP
import MoatWire
import NIOCore

/// `envoy.service.auth.v3.Authorization/Check` (docs/envoy.md): each HTTP request Envoy asks about
/// is mapped to a check and decided on the data socket's path (`DataRequestProcessor.check`): the
/// same snapshot, engine, metrics and decision log.
///
/// Token cache: a check is decided on the event loop that read it (`EnvoyConnectionHandler`), with
/// that loop's `TokenCache`, the one the data socket's connections on that loop use, so a token
/// verified on either path is cached for both and the caches stay lock-free (docs/envoy.md,
/// "Tokens").
struct EnvoyAuthorizationService: Sendable {
    let context: DataContext
    let mapping: HTTPCheckMapping
    let answersErrorResponse: Bool

    /// The processor that decides the checks of one connection served by `loop`: that loop's token
    /// cache, looked up once per connection, as the data socket's connections do.
    func processor(on loop: any EventLoop) -> DataRequestProcessor {
        DataRequestProcessor(
            store: context.store,
            tokenCache: context.tokenCaches[ObjectIdentifier(loop)]!,
            metrics: context.metrics,
            decisionLog: context.decisionLog,
            draining: context.draining,
            peer: nil,
            trustsAssertedIdentity: false,
            sampling: UInt64.random(in: 1...UInt64.max)
        )
    }

    /// The answer to one request, decided by `processor` (the connection's, on the caller's event
    /// loop); the error is "could not decide".
    func answer(
        _ input: EnvoyCheckInput,
        timeoutMicros: UInt64,
        arrival: NIODeadline,
        processor: inout DataRequestProcessor
    ) -> Result<EnvoyCheckResponse, StatusError> {
        let decisionId = EnvoyAnswer.newDecisionId()
        var check = CheckRequest()
        var refusal: HTTPMappingError?
        var moatHeaders: [String] = []
        switch input {
        case .refused(let error):
            refusal = error
        case .request(let envoy):
            moatHeaders = envoy.moatHeaderNames
            let http = KeyVaultHTTPRequest(
                method: envoy.method,
                path: envoy.path,
                host: envoy.host,
                headers: envoy.headers,
                peerAddress: envoy.sourceAddress,
                contextExtensions: envoy.contextExtensions
            )
            switch mapping.check(http) {
            case .success(let mapped): check = mapped
            case .failure(let error):
                refusal = error
                check.sourceAddress = mapping.clientAddress.source(
                    peer: envoy.sourceAddress,
                    forwardedFor: envoy.headers["x-forwarded-for"]
                )
                check.requestId = envoy.headers["x-request-id"] ?? envoy.id
            }
            if check.requestId.isEmpty { check.requestId = envoy.id }
        }
        check.timeoutMicros = timeoutMicros
        switch processor.check(check, refusal: refusal, arrival: arrival, decisionId: decisionId) {
        case .success(let decision):
            return .success(
                EnvoyAnswer.response(
                    decision,
                    sourceAddress: check.sourceAddress,
                    decisionId: decisionId,
                    clientMoatHeaders: moatHeaders
                )
            )
        case .failure(let error):
            return answersErrorResponse ? .success(EnvoyAnswer.errorResponse(error)) : .failure(error)
        }
    }

    /// The `grpc-timeout` Envoy sends (its ext_authz `timeout`), in microseconds; 0 when absent or
    /// unreadable (the gRPC spec: up to 8 digits and a unit, H M S m u n).
    static func timeoutMicros(_ header: String?) -> UInt64 {
        guard let text = header, let unit = text.last, text.count >= 2, text.count <= 9,
            let value = UInt64(text.dropLast())
        else { return 0 }
        let micros: UInt64
        switch unit {
        case "H": micros = value.multipliedReportingOverflow(by: 3_600_000_000).partialValue
        case "M": micros = value.multipliedReportingOverflow(by: 60_000_000).partialValue
        case "S": micros = value * 1_000_000
        case "m": micros = value * 1000
        case "u": micros = value
        case "n": micros = max(1, value / 1000)
        default: return 0
        }
        return max(1, micros)
    }
}
