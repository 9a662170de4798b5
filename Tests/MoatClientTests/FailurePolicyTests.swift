import MoatCore
import MoatWire
import Testing

@testable import MoatClient

/// Issue 8, H1: only an unavailable daemon can fail open; what the request or the daemon got wrong
/// is a deny whatever the policy.
@Suite("Failure policy")
struct FailurePolicyTests {
    static func status(_ code: StatusCode) -> MoatClientError {
        MoatClientError(StatusError(code: code, message: "m"))
    }

    static let failures: [(MoatClientError, MoatClientError.Fault)] = [
        (MoatClientError(code: .unreachable, message: "m", status: .unavailable), .availability),
        (MoatClientError(code: .deadlineExceeded, message: "m", status: .deadlineExceeded), .availability),
        (.connectionClosed, .availability),
        (status(.unavailable), .availability),
        (status(.deadlineExceeded), .availability),
        (.unencodable(MessageCodingError(code: .invalidString, field: "token", message: "NUL")), .request),
        (MoatClientError(code: .requestRefused, message: "m", status: .resourceExhausted), .request),
        (status(.invalidArgument), .request),
        (status(.resourceExhausted), .request),
        (status(.internalError), .daemon),
        (status(.unimplemented), .daemon),
        (status(.permissionDenied), .daemon),
        (status(.ok), .daemon),
        (status(StatusCode(rawValue: 99)), .daemon),
        (.unreadableAnswer(MessageCodingError(code: .noDecision, message: "m")), .daemon),
    ]

    @Test(arguments: failures)
    func fault(error: MoatClientError, fault: MoatClientError.Fault) {
        #expect(error.fault == fault)
        let open = CheckResult(error: error, policy: .open)
        #expect(open.isAllowed == (fault == .availability))
        #expect(open.failedOpen == (fault == .availability))
        let closed = CheckResult(error: error, policy: .closed)
        #expect(!closed.isAllowed && !closed.failedOpen)
    }

    @Test func underlyingErrorIsKeptButNotCompared() {
        let coding = MessageCodingError(code: .invalidString, field: "vault", message: "NUL")
        let error = MoatClientError.unencodable(coding)
        #expect(error.underlyingError as? MessageCodingError == coding)
        #expect(error.status == .invalidArgument && error.code == .requestRefused)
        var other = error
        other.underlyingError = nil
        #expect(other == error && other.hashValue == error.hashValue)
    }
}
