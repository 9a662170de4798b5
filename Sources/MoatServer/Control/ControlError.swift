public import MoatCore

/// Why a control call failed; maps onto the wire's status codes (INTERFACES.md section 1).
public struct ControlError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        /// A rejected document or change; `details` lists every validation error.
        case invalidArgument
        /// The change names a vault, rule or policy that does not exist; rollback to a revision not kept.
        case notFound
        /// The rules file cannot be written (read-only, managed elsewhere), or no rules to edit.
        case failedPrecondition
        /// The expected revision is not the current one.
        case aborted
        /// The rules file could not be written (disk full, I/O error), or a bug.
        case internalError
    }

    public var code: Code
    public var message: String
    public var details: [ValidationError]

    public init(_ code: Code, _ message: String, details: [ValidationError] = []) {
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { message }
}
