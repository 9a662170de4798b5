internal import MoatCore

/// A bearer token split into its three JWS compact parts (RFC 7515 section 7.1) and decoded, before
/// its signature is checked.
///
/// Everything here is the "parse and `alg`" step of `docs/semantics.md` ("Token checks, in
/// order"): any failure is `InvalidToken` before the issuer is even looked at, so it must not depend
/// on the snapshot's keys.
struct ParsedToken {
    /// The longest token parsed, in UTF-8 bytes (without `Bearer `); Entra tokens are 1 to 4 KB,
    /// 8 KB with many groups.
    static let maximumBytes = 16 * 1024

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
        guard utf8.count <= Self.maximumBytes else {
            throw MalformedToken(
                "the token is \(utf8.count) bytes; Moat parses tokens of at most \(Self.maximumBytes) bytes"
            )
        }
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
                throw MalformedToken("unsupported alg \(Echo.quoted(name)); Moat accepts RS256 and ES256")
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

        guard let signature = Base64URL.decode(signatureSegment, allowingPadding: false) else {
            throw MalformedToken(Self.notBase64URL("signature", signatureSegment))
        }
        guard !signature.isEmpty else { throw MalformedToken("the token is unsigned (empty signature segment)") }

        self.headerSegment = headerSegment
        self.signingInput = token[token.startIndex..<dots[1]]
        self.algorithm = algorithm
        self.keyID = keyID
        self.claims = claims
        self.signature = signature
    }

    /// Base64url-decodes a segment and parses it as a JSON object whose names and strings hold no
    /// control character.
    private static func decodeObject(_ segment: Substring, part: String) throws(MalformedToken) -> JSONValue {
        guard let bytes = Base64URL.decode(segment, allowingPadding: false) else {
            throw MalformedToken(notBase64URL(part, segment))
        }
        let value: JSONValue
        do {
            value = try JSONValue(parsing: bytes)
        } catch {
            throw MalformedToken("the \(part) is not JSON (\(error))")
        }
        guard case .object(let members) = value else {
            throw MalformedToken("the \(part) is \(value.typeName), not a JSON object")
        }
        // Claims name the caller in messages and audit records: a control character there could
        // only be an attack on what reads them.
        let member = part == "header" ? "header parameter" : "claim"
        for (name, memberValue) in members {
            if let control = name.unicodeScalars.first(where: Echo.isControl) {
                throw controlCharacter(control, part: part, in: "a \(member) name")
            }
            if let control = firstControl(in: memberValue) {
                throw controlCharacter(control, part: part, in: "\(member) \(Echo.quoted(name))")
            }
        }
        return value
    }

    private static func controlCharacter(_ scalar: Unicode.Scalar, part: String, in place: String) -> MalformedToken {
        let code = String(scalar.value, radix: 16, uppercase: true)
        return MalformedToken(
            "the \(part) holds a control character (U+\(String(repeating: "0", count: max(0, 4 - code.count)) + code)) "
                + "in \(place); Moat refuses control characters in tokens"
        )
    }

    /// The first control character in a value's strings and member names, nested ones included.
    private static func firstControl(in value: JSONValue) -> Unicode.Scalar? {
        switch value {
        case .string(let text):
            return text.unicodeScalars.first(where: Echo.isControl)
        case .array(let elements):
            for element in elements {
                if let control = firstControl(in: element) { return control }
            }
            return nil
        case .object(let members):
            for (name, member) in members {
                if let control = name.unicodeScalars.first(where: Echo.isControl) ?? firstControl(in: member) {
                    return control
                }
            }
            return nil
        case .null, .bool, .number:
            return nil
        }
    }

    /// Why a segment does not decode; padding gets its own reason, as base64url tools often add it.
    private static func notBase64URL(_ part: String, _ segment: Substring) -> String {
        if segment.utf8.last == UInt8(ascii: "=") {
            return "the \(part) ends in '=' padding; JWS segments are unpadded base64url (RFC 7515 section 2)"
        }
        return "the \(part) is not base64url"
    }
}
