internal import MoatCore

/// A bearer token split into its three JWS compact parts (RFC 7515 section 7.1) and decoded, before
/// its signature is checked.
///
/// Everything here is the "parse and `alg`" step of `INTERFACES.md` section 5: any failure is
/// `InvalidToken` before the issuer is even looked at, so it must not depend on the snapshot's keys.
struct ParsedToken {
    /// The header segment as sent: Key Vault quotes it when no key matches (AKV10046).
    var headerSegment: Substring
    /// `header.payload` as sent: the bytes the signature covers.
    var signingInput: Substring
    var algorithm: JWTAlgorithm
    /// `kid`; `nil` when the header has none (then no key can be selected).
    var keyID: String?
    var claims: TokenClaims
    var signature: [UInt8]

    init(_ token: Substring) throws(MalformedToken) {
        let utf8 = token.utf8
        var dots: [Substring.UTF8View.Index] = []
        var dotCount = 0
        for index in utf8.indices where utf8[index] == UInt8(ascii: ".") {
            dotCount += 1
            if dots.count < 2 { dots.append(index) }
        }
        guard dotCount == 2 else {
            let found = dotCount + 1
            let hint = found == 5 ? " (an encrypted JWE token?)" : ""
            throw MalformedToken(
                "not a JWS compact token: expected 3 dot-separated segments (header.payload.signature), "
                    + "found \(found)\(hint)"
            )
        }
        // '.' is ASCII, so UTF-8 indices of dots are valid character boundaries.
        let headerSegment = token[token.startIndex..<dots[0]]
        let payloadSegment = token[utf8.index(after: dots[0])..<dots[1]]
        let signatureSegment = token[utf8.index(after: dots[1])...]

        let header = try Self.decodeObject(headerSegment, part: "header")
        let algorithm: JWTAlgorithm
        switch header["alg"] {
        case .string(let name):
            guard let known = JWTAlgorithm(rawValue: name) else {
                throw MalformedToken("unsupported alg \(MalformedToken.quoted(name)); Moat accepts RS256 and ES256")
            }
            algorithm = known
        case nil:
            throw MalformedToken("the header has no alg; Moat accepts RS256 and ES256")
        case let value?:
            throw MalformedToken("header parameter 'alg' must be a string, found \(value.typeName)")
        }
        let keyID: String?
        switch header["kid"] {
        case .string(let kid): keyID = kid
        case nil: keyID = nil
        case let value?: throw MalformedToken("header parameter 'kid' must be a string, found \(value.typeName)")
        }
        // RFC 7515 section 4.1.11: a verifier must refuse extensions it does not understand, and Moat
        // understands none.
        if header["crit"] != nil {
            throw MalformedToken("the header lists critical extensions ('crit'); Moat supports none")
        }

        let payload = try Self.decodeObject(payloadSegment, part: "payload")
        let claims = try TokenClaims(jwtPayload: payload)

        guard let signature = Base64URL.decode(signatureSegment) else {
            throw MalformedToken("the signature is not base64url")
        }
        guard !signature.isEmpty else { throw MalformedToken("the token is unsigned (empty signature segment)") }

        self.headerSegment = headerSegment
        self.signingInput = token[token.startIndex..<dots[1]]
        self.algorithm = algorithm
        self.keyID = keyID
        self.claims = claims
        self.signature = signature
    }

    /// Base64url-decodes a segment and parses it as a JSON object.
    private static func decodeObject(_ segment: Substring, part: String) throws(MalformedToken) -> JSONValue {
        guard let bytes = Base64URL.decode(segment) else { throw MalformedToken("the \(part) is not base64url") }
        let value: JSONValue
        do {
            value = try JSONValue(parsing: bytes)
        } catch {
            throw MalformedToken("the \(part) is not JSON (\(error))")
        }
        guard case .object = value else {
            throw MalformedToken("the \(part) is \(value.typeName), not a JSON object")
        }
        return value
    }
}
