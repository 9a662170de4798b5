/// A message could not be decoded from, or encoded to, its protobuf form.
///
/// The daemon answers a request that fails to decode with INVALID_ARGUMENT and `message`; a client
/// that cannot decode an answer could not decide (never "allow").
///
/// ```swift
/// do {
///     let request = try CheckRequest(wirePayload: frame.payload)
/// } catch {
///     // error.message: "field 'vault' holds a NUL byte or invalid UTF-8"
/// }
/// ```
public struct MessageCodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem it was; more codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case malformedPayload
            case invalidString
            case invalidValue
            case noDecision
            case tooManyItems
        }

        private let wrapped: Wrapped

        private init(_ wrapped: Wrapped) {
            self.wrapped = wrapped
        }

        /// The bytes are not an encoding of the expected message.
        public static let malformedPayload = Code(.malformedPayload)
        /// A string field holds a NUL byte or bytes that are not UTF-8 (decoding), or a NUL byte
        /// (encoding: protobuf-c's C strings would cut it there).
        public static let invalidString = Code(.invalidString)
        /// A field holds a value Moat cannot represent: an unknown enum number, a missing required
        /// value, or values that contradict each other.
        public static let invalidValue = Code(.invalidValue)
        /// A `CheckResponse` carries no decision (`DECISION_UNSPECIFIED` or an unknown number):
        /// the caller could not decide, and must never treat it as an allow.
        public static let noDecision = Code(.noDecision)
        /// A repeated field holds more items than Moat accepts (a CheckBatch of more than 1024
        /// requests); counted before anything is unpacked.
        public static let tooManyItems = Code(.tooManyItems)

        public var description: String {
            switch wrapped {
            case .malformedPayload: "malformed payload"
            case .invalidString: "invalid string"
            case .invalidValue: "invalid value"
            case .noDecision: "no decision"
            case .tooManyItems: "too many items"
            }
        }
    }

    public var code: Code
    /// The path of the offending field in the message, e.g. `requests[2].asserted_identity.groups[0]`,
    /// when one field is to blame.
    public var field: String?
    /// What was wrong, for people: it names the message or the field.
    public var message: String

    public init(code: Code, field: String? = nil, message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    public var description: String { message }
}

extension MessageCodingError {
    static func malformed(_ messageName: String) -> Self {
        Self(code: .malformedPayload, message: "payload does not decode as \(messageName)")
    }

    static func invalidString(field: String) -> Self {
        Self(code: .invalidString, field: field, message: "field '\(field)' holds a NUL byte or invalid UTF-8")
    }

    static func nulByteInString(field: String) -> Self {
        Self(
            code: .invalidString,
            field: field,
            message: "field '\(field)' holds a NUL byte, which the protobuf encoding used here cannot carry"
        )
    }

    static func invalidValue(field: String, _ message: String) -> Self {
        Self(code: .invalidValue, field: field, message: "field '\(field)' \(message)")
    }

    static func tooManyItems(field: String, count: Int, maximum: Int) -> Self {
        Self(
            code: .tooManyItems,
            field: field,
            message: "field '\(field)' holds \(count) items; at most \(maximum) are accepted"
        )
    }

    /// The error of item `index` of repeated field `name`: its path starts `name[index]`, and an
    /// error about the item as a whole (it does not decode) names it.
    func item(_ index: Int, of name: String) -> Self {
        let prefix = "\(name)[\(index)]"
        guard field == nil else { return nested(in: prefix) }
        var copy = self
        copy.field = prefix
        copy.message = "field '\(prefix)': \(message)"
        return copy
    }

    /// The same error, with `prefix` in front of its field path (for a nested or repeated message).
    func nested(in prefix: String) -> Self {
        guard let field else { return self }
        let path = "\(prefix).\(field)"
        var copy = self
        copy.field = path
        if let range = copy.message.firstRange(of: "'\(field)'") {
            copy.message.replaceSubrange(range, with: "'\(path)'")
        }
        return copy
    }
}
