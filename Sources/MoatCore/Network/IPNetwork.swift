/// An address prefix such as `203.0.113.0/24`: an address with its host bits clear, and a length.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    /// Why text is not a prefix.
    public enum ParseError: Error, Sendable, Hashable {
        case notAnAddress
        case badPrefixLength
        /// The address has bits set after the prefix; `network` is what was probably meant.
        case hostBitsSet(network: IPNetwork)
    }

    public init(address: IPAddress, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Parses `address/length`, or a bare address as a host prefix (/32 or /128).
    public init(parsing text: String) throws(ParseError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { throw .notAnAddress }
        // IPv4-mapped IPv6 text stays IPv6 in a prefix: its length counts IPv6 bits.
        let width = address.isIPv4 && !parts[0].contains(":") ? 32 : 128
        var length = width
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
                let value = Int(digits), value <= width, digits == String(value)
            else { throw .badPrefixLength }
            length = value
        }
        if width == 128, case .v4(let v4) = address {
            // `::ffff:a.b.c.d/n`: keep it as the IPv4 prefix it denotes when n covers the mapping.
            guard length >= 96 else { throw .badPrefixLength }
            self.init(address: .v4(v4), prefixLength: length - 96)
        } else {
            self.init(address: address, prefixLength: length)
        }
        let network = masked
        guard network == self else { throw .hostBitsSet(network: network) }
    }

    /// The prefix with its host bits cleared.
    public var masked: IPNetwork {
        IPNetwork(address: IPNetwork.mask(address, prefixLength: prefixLength), prefixLength: prefixLength)
    }

    static func mask(_ address: IPAddress, prefixLength: Int) -> IPAddress {
        switch address {
        case .v4(let value):
            return .v4(prefixLength == 0 ? 0 : value & ~UInt32(0) << UInt32(32 - prefixLength))
        case .v6(let value):
            return .v6(prefixLength == 0 ? 0 : value & ~UInt128(0) << UInt128(128 - prefixLength))
        }
    }

    /// Whether `other` lies inside this prefix.
    public func contains(_ other: IPAddress) -> Bool {
        switch (address, other) {
        case (.v4, .v4), (.v6, .v6): IPNetwork.mask(other, prefixLength: prefixLength) == address
        default: false
        }
    }

    /// Whether the two prefixes share any address.
    public func overlaps(_ other: IPNetwork) -> Bool {
        prefixLength <= other.prefixLength ? contains(other.address) : other.contains(address)
    }

    /// `a.b.c.d/n`, or IPv6 text with its length.
    public var description: String { "\(address)/\(prefixLength)" }
}
