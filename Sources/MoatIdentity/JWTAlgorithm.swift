/// The JWS algorithms Moat verifies: RS256 (what Entra ID signs with) and ES256.
///
/// An allow-list, not a lookup of whatever the header names, so that `none`, HMAC (`HS256` with a
/// public key as the secret) and algorithm-confusion tokens are refused before any key is touched.
enum JWTAlgorithm: String, Sendable {
    case rs256 = "RS256"
    case es256 = "ES256"

    /// The key type that verifies it, as a JWK `kty` would say.
    var keyType: String {
        switch self {
        case .rs256: "RSA"
        case .es256: "EC P-256"
        }
    }
}
