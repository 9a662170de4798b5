/// Why a bearer token is not a JWT Moat accepts; becomes `TokenVerification.malformed(reason:)`.
///
/// Internal: callers see only the reason text, which the engine puts after
/// "[BearerReadAccessTokenFailed] Error validating token: ".
struct MalformedToken: Error, Sendable, Hashable {
    var reason: String

    init(_ reason: String) {
        self.reason = reason
    }
}
