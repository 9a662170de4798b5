/// An IPv4 or IPv6 address. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the IPv4 address.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt128)

    /// Parses dotted-quad IPv4 (no leading zeros) or RFC 4291 IPv6 text (no zone index).
    public init?(_ text: some StringProtocol) {
        let parsed =
            text.utf8.withContiguousStorageIfAvailable { IPAddress.parse($0) }
            ?? Array(text.utf8).withUnsafeBufferPointer { IPAddress.parse($0) }
        guard let parsed else { return nil }
        self = parsed
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> IPAddress? {
        if let v4 = parseIPv4(bytes[...]) { return .v4(v4) }
        guard let v6 = parseIPv6(bytes) else { return nil }
        if v6 >> 32 == 0xffff { return .v4(UInt32(truncatingIfNeeded: v6)) }
        return .v6(v6)
    }

    public var isIPv4: Bool {
        if case .v4 = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .v4(let value):
            return "\(value >> 24).\((value >> 16) & 0xff).\((value >> 8) & 0xff).\(value & 0xff)"
        case .v6(let value):
            let groups = (0..<8).map { UInt16(truncatingIfNeeded: value >> (112 - 16 * UInt128($0))) }
            // RFC 5952: compress the longest run (length >= 2) of zero groups, leftmost on ties.
            var best = (start: -1, length: 0)
            var i = 0
            while i < 8 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > best.length && j - i >= 2 { best = (i, j - i) }
                i = j == i ? i + 1 : j
            }
            let hex = groups.map { String($0, radix: 16) }
            guard best.start >= 0 else { return hex.joined(separator: ":") }
            return hex[..<best.start].joined(separator: ":") + "::"
                + hex[(best.start + best.length)...].joined(separator: ":")
        }
    }

    static func parseIPv4(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> UInt32? {
        var result: UInt32 = 0
        var octets = 0
        var value: UInt32 = 0
        var digits = 0
        var leadingZero = false
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, octets < 3 else { return nil }
                result = result << 8 | value
                octets += 1
                value = 0
                digits = 0
                continue
            }
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            if digits == 1 && leadingZero { return nil }
            if digits == 0 { leadingZero = byte == UInt8(ascii: "0") }
            value = value * 10 + UInt32(byte - UInt8(ascii: "0"))
            digits += 1
            guard value <= 255 else { return nil }
        }
        guard digits > 0, octets == 3 else { return nil }
        return result << 8 | value
    }

    static func parseIPv6(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt128? {
        guard bytes.count >= 2 else { return nil }
        // Groups before and after "::", accumulated as numbers (no allocation on the request path).
        var head: UInt128 = 0
        var headCount = 0
        var tail: UInt128 = 0
        var tailCount = 0
        var sawGap = false
        func append(_ group: UInt16) {
            if sawGap {
                tail = tail << 16 | UInt128(group)
                tailCount += 1
            } else {
                head = head << 16 | UInt128(group)
                headCount += 1
            }
        }
        var i = 0
        if bytes[0] == UInt8(ascii: ":") {
            guard bytes[1] == UInt8(ascii: ":") else { return nil }
            sawGap = true
            i = 2
        }
        while i < bytes.count {
            guard headCount + tailCount < 8 else { return nil }
            var j = i
            var value: UInt16 = 0
            while j < bytes.count, let digit = hexValue(bytes[j]) {
                guard j - i < 4 else { return nil }
                value = value << 4 | UInt16(digit)
                j += 1
            }
            if j < bytes.count && bytes[j] == UInt8(ascii: ".") {
                // An embedded IPv4 address ends the text.
                guard headCount + tailCount <= 6, let v4 = parseIPv4(bytes[i...]) else { return nil }
                append(UInt16(v4 >> 16))
                append(UInt16(v4 & 0xffff))
                break
            }
            guard j > i else { return nil }
            append(value)
            i = j
            if i == bytes.count { break }
            guard bytes[i] == UInt8(ascii: ":"), i + 1 < bytes.count else { return nil }
            i += 1
            if bytes[i] == UInt8(ascii: ":") {
                guard !sawGap else { return nil }
                sawGap = true
                i += 1
            }
        }
        let count = headCount + tailCount
        guard sawGap ? count <= 7 : count == 8 else { return nil }
        let headShift = UInt128(16 * (8 - headCount))
        return (headCount == 0 ? 0 : head << headShift) | tail
    }

    /// The value of one hex digit, either case (also the percent-escapes of `MoatKeyVaultHTTP.RequestPath`).
    package static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
