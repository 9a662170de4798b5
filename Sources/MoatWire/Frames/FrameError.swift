/// A byte stream that cannot be split into frames. All of these end the connection.
///
/// ```swift
/// catch let error as FrameError where error.code == .frameTooLarge {
///     // answer error.status (RESOURCE_EXHAUSTED) with stream id 0, then close
/// }
/// ```
package struct FrameError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem it was; more codes may be added.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case frameTooShort
            case frameTooLarge
            case truncatedFrame
        }

        private let wrapped: Wrapped

        private init(_ wrapped: Wrapped) {
            self.wrapped = wrapped
        }

        /// The length field N is below 8, the size of the header after it.
        package static let frameTooShort = Code(.frameTooShort)
        /// The length field N is above the configured maximum; seen before the payload is read.
        package static let frameTooLarge = Code(.frameTooLarge)
        /// The stream ended in the middle of a frame.
        package static let truncatedFrame = Code(.truncatedFrame)

        package var description: String {
            switch wrapped {
            case .frameTooShort: "frame too short"
            case .frameTooLarge: "frame too large"
            case .truncatedFrame: "truncated frame"
            }
        }
    }

    package var code: Code
    /// The frame's length field N, when it was read.
    package var length: Int?
    /// The bound that was broken: the minimum N (8) or the maximum N.
    package var limit: Int?
    /// For a truncated frame: the bytes of it that arrived, length field included.
    package var receivedBytes: Int?
    /// What was wrong, with the numbers.
    package var message: String

    package init(code: Code, length: Int? = nil, limit: Int? = nil, receivedBytes: Int? = nil, message: String) {
        self.code = code
        self.length = length
        self.limit = limit
        self.receivedBytes = receivedBytes
        self.message = message
    }

    /// The status to answer with, if the connection can still carry an answer: INVALID_ARGUMENT
    /// for a frame too short, RESOURCE_EXHAUSTED for one too large. The stream id is unknown when
    /// these are raised, so the answer carries stream id 0.
    package var status: StatusCode {
        code == .frameTooLarge ? .resourceExhausted : .invalidArgument
    }

    package var description: String { message }

    static func tooShort(length: Int) -> FrameError {
        FrameError(
            code: .frameTooShort,
            length: length,
            limit: Frame.minimumLength,
            message: "frame length \(length) is below the minimum of \(Frame.minimumLength)"
        )
    }

    static func tooLarge(length: Int, limit: Int) -> FrameError {
        FrameError(
            code: .frameTooLarge,
            length: length,
            limit: limit,
            message: "frame length \(length) exceeds the limit of \(limit) bytes"
        )
    }

    static func truncated(length: Int?, receivedBytes: Int) -> FrameError {
        let expected = length.map { " of \(Frame.lengthFieldSize + $0)" } ?? ""
        return FrameError(
            code: .truncatedFrame,
            length: length,
            receivedBytes: receivedBytes,
            message: "the stream ended inside a frame: \(receivedBytes)\(expected) bytes received"
        )
    }
}
