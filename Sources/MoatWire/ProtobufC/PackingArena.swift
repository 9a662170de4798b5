internal import CMoatProto

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#elseif canImport(Darwin)
internal import Darwin
#endif

/// Scratch memory for packing one message: the C structs of the message tree, NUL-terminated
/// copies of its strings and copies of its `bytes` fields. Everything is released together when
/// `withPackingArena` returns, so the encoders never free anything one by one and cannot leak.
///
/// The first block lives on the stack (`withUnsafeTemporaryAllocation`) and holds a typical answer
/// whole; a bigger message (a request with a long token, a batch) continues in heap blocks, each at
/// least twice the previous one, freed in the same `defer`.
struct PackingArena {
    /// Stack bytes: room for a `CheckResponse` tree with its strings.
    static let firstBlockSize = 1024
    /// The smallest heap block.
    private static let minimumHeapBlockSize = 4096

    private var cursor: UnsafeMutableRawPointer
    private var end: UnsafeMutableRawPointer
    private var heapBlocks: [UnsafeMutableRawPointer] = []
    private var lastBlockSize: Int

    private init(_ block: UnsafeMutableRawBufferPointer) {
        // A zero-sized temporary allocation may have no address; the first request then overflows.
        let base = block.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 16)!
        self.cursor = base
        self.end = base + block.count
        self.lastBlockSize = block.count
    }

    /// Runs `body` with a new arena; frees all of it after.
    static func with<Result, Failure: Error>(
        _ body: (inout PackingArena) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let outcome: Swift.Result<Result, Failure> = withUnsafeTemporaryAllocation(
            byteCount: firstBlockSize,
            alignment: 16
        ) { block in
            var arena = PackingArena(block)
            defer { arena.releaseHeapBlocks() }
            do throws(Failure) {
                return .success(try body(&arena))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    private func releaseHeapBlocks() {
        for block in heapBlocks {
            block.deallocate()
        }
    }

    private mutating func allocate(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer {
        let aligned = cursor.alignedUp(toMultipleOf: alignment)
        if aligned <= end, byteCount <= end - aligned {
            cursor = aligned + byteCount
            return aligned
        }
        let blockSize = max(byteCount, 2 * lastBlockSize, Self.minimumHeapBlockSize)
        let block = UnsafeMutableRawPointer.allocate(byteCount: blockSize, alignment: max(alignment, 16))
        heapBlocks.append(block)
        lastBlockSize = blockSize
        cursor = block + byteCount
        end = block + blockSize
        return block
    }

    /// A message struct initialised with its defaults (`protobuf_c_message_init`).
    mutating func message<Message: CMessage>(_: Message.Type) -> UnsafeMutablePointer<Message> {
        let raw = allocate(byteCount: MemoryLayout<Message>.stride, alignment: MemoryLayout<Message>.alignment)
        protobuf_c_message_init(Message.descriptor, raw)
        return raw.assumingMemoryBound(to: Message.self)
    }

    /// An array of `count` pointers, for a repeated field (`char **`, `Message **`), all NULL.
    mutating func pointers<Pointee>(
        to _: Pointee.Type,
        count: Int
    ) -> UnsafeMutablePointer<UnsafeMutablePointer<Pointee>?> {
        let raw = allocate(
            byteCount: MemoryLayout<UnsafeMutablePointer<Pointee>?>.stride * count,
            alignment: MemoryLayout<UnsafeMutablePointer<Pointee>?>.alignment
        )
        return raw.initializeMemory(as: UnsafeMutablePointer<Pointee>?.self, repeating: nil, count: count)
    }

    /// A NUL-terminated copy of `string`. A string holding a NUL byte cannot travel through
    /// protobuf-c (it would be cut there), so it is refused, naming `field`.
    mutating func cString(
        _ string: String,
        field: @autoclosure () -> String
    ) throws(MessageCodingError) -> UnsafeMutablePointer<CChar> {
        guard let copy = copyWithoutNUL(string) else { throw .nulByteInString(field: field()) }
        return copy
    }

    /// A NUL-terminated copy of `string`, or `nil` when it holds a NUL byte.
    private mutating func copyWithoutNUL(_ string: String) -> UnsafeMutablePointer<CChar>? {
        var string = string
        return string.withUTF8 { utf8 in
            let target = allocate(byteCount: utf8.count + 1, alignment: 1)
            if let source = utf8.baseAddress, utf8.count > 0 {
                if memchr(source, 0, utf8.count) != nil { return nil }
                target.copyMemory(from: source, byteCount: utf8.count)
            }
            target.storeBytes(of: 0, toByteOffset: utf8.count, as: UInt8.self)
            return target.assumingMemoryBound(to: CChar.self)
        }
    }

    /// Sets a string field to what can be packed of `string`, and never fails: a NUL byte becomes
    /// U+FFFD (the visible replacement character), and a string of more than `limit` UTF-8 bytes
    /// is cut at a Unicode scalar boundary and ends with "…", `limit` bytes in all. (A Swift `String` is
    /// always valid Unicode, so there is no invalid UTF-8 to replace.) Empty or `nil` keeps
    /// protobuf-c's default (absent). For answers that echo values a caller controls.
    mutating func setPackable(_ target: inout UnsafeMutablePointer<CChar>?, _ string: String?, limit: Int) {
        guard let string, !string.isEmpty else { return }
        if string.utf8.count <= limit, let copy = copyWithoutNUL(string) {
            target = copy
            return
        }
        target = copyWithoutNUL(Self.packable(string, limit: limit))
    }

    /// `string` with every NUL replaced by U+FFFD, cut to at most `limit` UTF-8 bytes (ending in
    /// "…" when cut).
    static func packable(_ string: String, limit: Int) -> String {
        let ellipsis: Unicode.Scalar = "…"
        var scalars = String.UnicodeScalarView()
        var bytes = 0
        let all = string.unicodeScalars.map { $0 == "\0" ? Unicode.Scalar(0xFFFD)! : $0 }
        let total = all.reduce(0) { $0 + $1.utf8.count }
        let budget = total <= limit ? limit : max(0, limit - ellipsis.utf8.count)
        for scalar in all {
            guard bytes + scalar.utf8.count <= budget else { break }
            scalars.append(scalar)
            bytes += scalar.utf8.count
        }
        if total > limit, limit >= ellipsis.utf8.count { scalars.append(ellipsis) }
        return String(scalars)
    }

    /// Sets a proto3 string field; an empty string keeps protobuf-c's default (absent).
    mutating func set(
        _ target: inout UnsafeMutablePointer<CChar>?,
        _ string: String,
        field: @autoclosure () -> String
    ) throws(MessageCodingError) {
        guard !string.isEmpty else { return }
        target = try cString(string, field: field())
    }

    /// Sets a proto3 `bytes` field to a copy of `bytes`; empty keeps protobuf-c's default (absent).
    /// Bytes carry no NUL restriction: protobuf-c packs `len` bytes, not a C string.
    mutating func set(_ target: inout ProtobufCBinaryData, _ bytes: some Collection<UInt8>) {
        let count = bytes.count
        guard count > 0 else { return }
        let copy = UnsafeMutableRawBufferPointer(start: allocate(byteCount: count, alignment: 1), count: count)
        copy.copyBytes(from: bytes)
        target = ProtobufCBinaryData(len: count, data: copy.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }

    /// Sets a repeated `bytes` field (`ProtobufCBinaryData *` and its count); an empty list keeps
    /// protobuf-c's default (absent).
    mutating func set(
        _ target: inout UnsafeMutablePointer<ProtobufCBinaryData>?,
        count: inout Int,
        _ values: [[UInt8]]
    ) {
        guard !values.isEmpty else { return }
        let raw = allocate(
            byteCount: MemoryLayout<ProtobufCBinaryData>.stride * values.count,
            alignment: MemoryLayout<ProtobufCBinaryData>.alignment
        )
        let items = raw.initializeMemory(
            as: ProtobufCBinaryData.self,
            repeating: ProtobufCBinaryData(len: 0, data: nil),
            count: values.count
        )
        for (index, value) in values.enumerated() { set(&items[index], value) }
        count = values.count
        target = items
    }

    /// Sets a repeated string field (`char **` and its count, each string named `field[i]` when
    /// refused); an empty list keeps protobuf-c's default (absent).
    mutating func set(
        _ target: inout UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
        count: inout Int,
        _ strings: [String],
        field: String
    ) throws(MessageCodingError) {
        guard !strings.isEmpty else { return }
        let pointers = self.pointers(to: CChar.self, count: strings.count)
        for (index, string) in strings.enumerated() {
            pointers[index] = try cString(string, field: "\(field)[\(index)]")
        }
        count = strings.count
        target = pointers
    }

    /// Sets an optional Swift string; `nil` and empty are both "absent" on the wire.
    mutating func set(
        _ target: inout UnsafeMutablePointer<CChar>?,
        _ string: String?,
        field: @autoclosure () -> String
    ) throws(MessageCodingError) {
        guard let string else { return }
        try set(&target, string, field: field())
    }
}
