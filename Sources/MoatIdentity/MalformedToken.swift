/// Why a bearer token is not a JWT Moat accepts; becomes `TokenVerification.malformed(reason:)`.
///
/// Internal: callers see only the reason text, which the engine puts after
/// "[BearerReadAccessTokenFailed] Error validating token: ".
struct MalformedToken: Error, Sendable, Hashable {
    var reason: String

    init(_ reason: String) {
        self.reason = reason
    }

    /// A value from the token, quoted and shortened, so that a hostile token cannot make a message
    /// (and the audit record that carries it) as large as itself.
    static func quoted(_ text: some StringProtocol) -> String {
        let limit = 64
        guard text.prefix(limit + 1).count > limit else { return "'\(text)'" }
        return "'\(text.prefix(limit))…'"
    }
}
