/// One thing wrong with a rule document, with the JSON path of the offending value.
public struct ValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// E.g. `vaults[0].properties.networkAcls.ipRules[3].value`; `$` for the document as a whole.
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// `PATH: message`, the form `moatctl validate` prints.
    public var description: String { "\(path): \(message)" }
}

/// A rule document was rejected as a whole; `errors` lists every problem, in document order.
public struct DocumentError: Error, Sendable, Hashable, CustomStringConvertible {
    public var errors: [ValidationError]

    public init(errors: [ValidationError]) {
        self.errors = errors
    }

    public var description: String {
        errors.count == 1 ? errors[0].description : "\(errors.count) errors, first: \(errors[0])"
    }
}
