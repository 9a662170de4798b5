public import NIOCore

/// Builds protobuf wire bytes by hand, independently of protobuf-c, for inputs Swift strings
/// cannot hold (NUL-free invalid UTF-8) and to pin the exact encoding.
public struct ProtobufBytes: Sendable, Hashable, CustomStringConvertible {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public init(raw: [UInt8]) {
        bytes = raw
    }

    private static func varintBytes(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        repeat {
            var byte = UInt8(value & 0x7f)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            out.append(byte)
        } while value != 0
        return out
    }

    private func appending(field: Int, wireType: UInt64, _ body: [UInt8]) -> ProtobufBytes {
        var copy = self
        copy.bytes += Self.varintBytes(UInt64(field) << 3 | wireType) + body
        return copy
    }

    public func varint(_ field: Int, _ value: UInt64) -> ProtobufBytes {
        appending(field: field, wireType: 0, Self.varintBytes(value))
    }

    /// An int32/enum field holding a negative number: ten bytes, as protobuf sign-extends.
    public func varint(_ field: Int, signed value: Int32) -> ProtobufBytes {
        varint(field, UInt64(bitPattern: Int64(value)))
    }

    public func bytes(_ field: Int, _ body: [UInt8]) -> ProtobufBytes {
        appending(field: field, wireType: 2, Self.varintBytes(UInt64(body.count)) + body)
    }

    public func string(_ field: Int, _ text: String) -> ProtobufBytes {
        bytes(field, Array(text.utf8))
    }

    public func message(_ field: Int, _ inner: ProtobufBytes) -> ProtobufBytes {
        bytes(field, inner.bytes)
    }

    public var buffer: ByteBuffer { ByteBuffer(bytes: bytes) }

    public var description: String { bytes.map { String($0, radix: 16) }.joined(separator: " ") }
}
