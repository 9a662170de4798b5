// Hand-written: MoatCore has no dependencies, and JWS segments must refuse padding that lenient decoders accept.

/// Base64url (RFC 4648 section 5), as JWTs and JWKs use it: no padding written; on input, padding
/// is tolerated in JWK members and refused in JWS segments (RFC 7515 section 2 omits it).
package enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xff, count: 256)
        for (value, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(value) }
        return table
    }()

    package static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 6 {
                bits -= 6
                out.append(alphabet[Int((buffer >> UInt32(bits)) & 0x3f)])
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(6 - bits)) & 0x3f)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes base64url text; `nil` for characters outside the alphabet, an impossible length, or
    /// trailing `=` padding unless `allowingPadding`.
    package static func decode(_ text: some StringProtocol, allowingPadding: Bool = true) -> [UInt8]? {
        let decode = { (input: UnsafeBufferPointer<UInt8>) in Self.decode(input, allowingPadding: allowingPadding) }
        return text.utf8.withContiguousStorageIfAvailable(decode) ?? Array(text.utf8).withUnsafeBufferPointer(decode)
    }

    private static func decode(_ input: UnsafeBufferPointer<UInt8>, allowingPadding: Bool) -> [UInt8]? {
        var count = input.count
        if allowingPadding {
            while count > 0 && input[count - 1] == UInt8(ascii: "=") { count -= 1 }
        }
        guard count % 4 != 1 else { return nil }
        return values.withUnsafeBufferPointer { table -> [UInt8]? in
            var out = [UInt8]()
            out.reserveCapacity(count * 3 / 4)
            var buffer: UInt32 = 0
            var bits: UInt32 = 0
            for i in 0..<count {
                let value = table[Int(input[i])]
                guard value != 0xff else { return nil }
                buffer = buffer << 6 | UInt32(value)
                bits += 6
                if bits >= 8 {
                    bits -= 8
                    out.append(UInt8(truncatingIfNeeded: buffer >> bits))
                }
            }
            // Leftover bits must be zero (canonical encoding).
            guard buffer & ((1 << bits) - 1) == 0 else { return nil }
            return out
        }
    }
}
