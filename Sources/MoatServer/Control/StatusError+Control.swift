import MoatCore
import MoatWire

extension StatusError {
    /// A control call's refusal; a rejected document's validation errors become the details
    /// (docs/protocol.md "Status codes").
    init(_ code: StatusCode, _ message: String, details: [ValidationError] = []) {
        self.init(
            code: code,
            message: message,
            details: details.map { Detail(path: $0.path, message: $0.message) }
        )
    }
}
