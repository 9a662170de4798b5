internal import CMoatProto
internal import NIOCore

/// The one place that hands bytes to protobuf-c and takes them back: every message codec goes
/// through `decode` and `encode`, so the memory rules live here once.
///
/// Decoding: refuse strings with a NUL byte or invalid UTF-8 (`cmoat_check_strings_path`, because
/// protobuf-c's `char *` strings would silently stop at a NUL), unpack into the thread's unpack
/// arena (`cmoat_unpack_arena_acquire`: no allocation for a message that fits it), convert to Swift
/// values, release the arena in `defer` (docs/performance.md, "Cuts"). Encoding: fill C structs in
/// a `PackingArena`, then pack straight into the `ByteBuffer`.
enum ProtobufCCodec {
    /// Room for the path of a refused string; longer paths are cut.
    private static let pathCapacity = 256

    static func decode<Message: CMessage, Value>(
        _: Message.Type,
        from payload: ByteBuffer,
        _ convert: (borrowing Message) throws(MessageCodingError) -> Value
    ) throws(MessageCodingError) -> Value {
        let outcome: Result<Value, MessageCodingError> = payload.withUnsafeReadableBytes { bytes in
            do throws(MessageCodingError) {
                return .success(try decode(Message.self, from: bytes, convert))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    static func decode<Message: CMessage, Value>(
        _: Message.Type,
        from bytes: UnsafeRawBufferPointer,
        _ convert: (borrowing Message) throws(MessageCodingError) -> Value
    ) throws(MessageCodingError) -> Value {
        let descriptor = Message.descriptor
        // protobuf-c and the string check read nothing when the length is 0, but want an address.
        let empty: UInt8 = 0
        return try withUnsafePointer(to: empty) { emptyAddress throws(MessageCodingError) -> Value in
            let data = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyAddress
            try checkStrings(descriptor, data, bytes.count)
            let arena = cmoat_unpack_arena_acquire()
            let unpacked = protobuf_c_message_unpack(descriptor, arena, bytes.count, data)
            defer { cmoat_unpack_arena_release(arena, unpacked) }
            guard let unpacked else { throw .malformed(Message.fullName) }
            let message = UnsafeRawPointer(unpacked).assumingMemoryBound(to: Message.self)
            return try convert(message.pointee)
        }
    }

    /// Decodes the items of repeated message field `name` of a `Container` one by one, each to
    /// its own outcome, so that one item that does not decode fails only itself; its error names
    /// the item (`requests[2].vault`).
    ///
    /// The items are counted in the wire bytes first (`cmoat_field_spans`), before anything is
    /// unpacked: more than `maximumCount` throws `.tooManyItems`. Bytes that are not an encoding
    /// of `Container` throw `.malformedPayload`.
    static func decodeItems<Container: CMessage, Item: CMessage, Value>(
        of _: Container.Type,
        field name: String,
        as _: Item.Type,
        from payload: ByteBuffer,
        maximumCount: Int,
        _ convert: (borrowing Item) throws(MessageCodingError) -> Value
    ) throws(MessageCodingError) -> [Result<Value, MessageCodingError>] {
        let number = protobuf_c_message_descriptor_get_field_by_name(Container.descriptor, name)!.pointee.id
        let outcome: Result<[Result<Value, MessageCodingError>], MessageCodingError> =
            payload
            .withUnsafeReadableBytes { bytes in
                withUnsafeTemporaryAllocation(of: cmoat_span.self, capacity: maximumCount) { spans in
                    let empty: UInt8 = 0
                    let count = withUnsafePointer(to: empty) { emptyAddress in
                        let data = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyAddress
                        return cmoat_field_spans(data, bytes.count, number, spans.baseAddress!, maximumCount)
                    }
                    guard count >= 0 else { return .failure(.malformed(Container.fullName)) }
                    guard count <= maximumCount else {
                        return .failure(.tooManyItems(field: name, count: Int(count), maximum: maximumCount))
                    }
                    return .success(
                        (0..<Int(count)).map { index in
                            let span = spans[index]
                            let item = UnsafeRawBufferPointer(rebasing: bytes[span.offset..<span.offset + span.length])
                            do throws(MessageCodingError) {
                                return .success(try decode(Item.self, from: item, convert))
                            } catch {
                                return .failure(error.item(index, of: name))
                            }
                        }
                    )
                }
            }
        return try outcome.get()
    }

    private static func checkStrings(
        _ descriptor: UnsafePointer<ProtobufCMessageDescriptor>,
        _ data: UnsafePointer<UInt8>,
        _ count: Int
    ) throws(MessageCodingError) {
        let failure: MessageCodingError? = withUnsafeTemporaryAllocation(of: CChar.self, capacity: pathCapacity) {
            path in
            let result = cmoat_check_strings_path(descriptor, data, count, path.baseAddress!, pathCapacity)
            switch result {
            case CMOAT_STRINGS_VALID:
                return nil
            case CMOAT_STRINGS_INVALID:
                return .invalidString(field: String(cString: path.baseAddress!))
            default:
                return .malformed(String(cString: descriptor.pointee.name))
            }
        }
        if let failure { throw failure }
    }

    /// Fills a `Message` with `fill` and appends its encoding to `buffer`.
    /// `Failure` is `Never` for messages whose encoding cannot fail (`CheckResponse`).
    static func encode<Message: CMessage, Failure: Error>(
        _: Message.Type,
        into buffer: inout ByteBuffer,
        _ fill: (UnsafeMutablePointer<Message>, inout PackingArena) throws(Failure) -> Void
    ) throws(Failure) {
        try PackingArena.with { arena throws(Failure) in
            let message = arena.message(Message.self)
            try fill(message, &arena)
            let base = UnsafeRawPointer(message).assumingMemoryBound(to: ProtobufCMessage.self)
            let size = protobuf_c_message_get_packed_size(base)
            guard size > 0 else { return }
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
                protobuf_c_message_pack(base, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
    }
}

/// Conversions between protobuf-c's strings and Swift's, shared by the message codecs.
enum CString {
    /// The string a field holds; protobuf-c gives "" for absent ones, `nil` is read as "" too.
    /// Strings were checked for NUL and UTF-8 before unpacking.
    static func string(_ pointer: UnsafePointer<CChar>?) -> String {
        string(pointer, reusing: "")
    }

    /// The string a field holds: `candidate` itself (shared, not copied) when its bytes are the
    /// field's, else a new string.
    static func string(_ pointer: UnsafePointer<CChar>?, reusing candidate: String) -> String {
        guard let pointer, pointer.pointee != 0 else { return "" }
        guard !candidate.isEmpty else { return String(cString: pointer) }
        var candidate = candidate
        let same = candidate.withUTF8 { cmoat_string_equals(pointer, $0.baseAddress!, $0.count) }
        return same ? candidate : String(cString: pointer)
    }

    /// The string a field holds, `nil` when empty (proto3: zero means absent).
    static func optional(_ pointer: UnsafePointer<CChar>?) -> String? {
        guard let pointer, pointer.pointee != 0 else { return nil }
        return String(cString: pointer)
    }

    /// A repeated string field.
    static func strings(_ pointers: UnsafePointer<UnsafeMutablePointer<CChar>?>?, count: Int) -> [String] {
        guard let pointers, count > 0 else { return [] }
        return (0..<count).map { string(pointers[$0]) }
    }
}

/// Conversions from protobuf-c's `bytes` fields, shared by the message codecs.
enum CBytes {
    /// A copy of the bytes a field holds (protobuf-c frees them with the message); absent is empty.
    static func array(_ data: ProtobufCBinaryData) -> [UInt8] {
        guard data.len > 0, let base = data.data else { return [] }
        return Array(UnsafeBufferPointer(start: base, count: data.len))
    }

    /// A repeated `bytes` field.
    static func arrays(_ items: UnsafePointer<ProtobufCBinaryData>?, count: Int) -> [[UInt8]] {
        guard let items, count > 0 else { return [] }
        return (0..<count).map { array(items[$0]) }
    }
}
