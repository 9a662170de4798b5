/// Why a `TokenSigner` could not be made from a key file.
///
/// A struct with an open-ended `Code` rather than an enum, so new kinds of failure can be added
/// without breaking callers that switch over them.
public struct TokenSignerError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; compare with `==` against the static members.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Wrapped: Sendable, Hashable {
            case invalidPEM
            case unsupportedKey
            case keyRefused
        }

        private let wrapped: Wrapped

        private init(_ wrapped: Wrapped) {
            self.wrapped = wrapped
        }

        /// No PEM block, or a block that is not base64 DER of the type its label names.
        public static let invalidPEM = Code(.invalidPEM)
        /// A PEM block that is not an unencrypted RSA or P-256 private key (a public key, a
        /// certificate, an encrypted key, another curve).
        public static let unsupportedKey = Code(.unsupportedKey)
        /// A key of a supported kind that swift-crypto refuses, such as RSA under 2048 bits.
        public static let keyRefused = Code(.keyRefused)

        public var description: String {
            switch wrapped {
            case .invalidPEM: "invalidPEM"
            case .unsupportedKey: "unsupportedKey"
            case .keyRefused: "keyRefused"
            }
        }
    }

    public var code: Code
    /// What went wrong, in words for the operator running `moatctl token mint`.
    public var message: String
    /// The error swift-crypto reported, when there was one.
    public var cause: (any Error)?

    public init(code: Code, message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        guard let cause else { return message }
        return "\(message) (\(cause))"
    }
}
