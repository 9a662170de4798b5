import MoatCore
import Testing

@Suite("IP addresses and prefixes")
struct IPAddressTests {
    @Test(
        "addresses parse",
        arguments: [
            ("203.0.113.9", IPAddress.v4(0xcb00_7109)),
            ("0.0.0.0", .v4(0)),
            ("255.255.255.255", .v4(0xffff_ffff)),
            ("::", .v6(0)),
            ("::1", .v6(1)),
            ("2001:db8::1", .v6(0x2001_0db8_0000_0000_0000_0000_0000_0001)),
            ("2001:DB8:0:0:0:0:0:1", .v6(0x2001_0db8_0000_0000_0000_0000_0000_0001)),
            ("1::", .v6(0x0001_0000_0000_0000_0000_0000_0000_0000)),
            ("1:2:3:4:5:6:7:8", .v6(0x0001_0002_0003_0004_0005_0006_0007_0008)),
            ("1::2:3:4:5:6:7", .v6(0x0001_0000_0002_0003_0004_0005_0006_0007)),
            ("::ffff:203.0.113.9", .v4(0xcb00_7109)),
            ("::FFFF:cb00:7109", .v4(0xcb00_7109)),
            ("64:ff9b::192.0.2.1", .v6(0x0064_ff9b_0000_0000_0000_0000_c000_0201)),
        ]
    )
    func parses(text: String, expected: IPAddress) {
        #expect(IPAddress(text) == expected)
    }

    @Test(
        "malformed addresses are refused",
        arguments: [
            "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.04", "1..2.3", "1.2.3.4 ", " 1.2.3.4", "a.b.c.d",
            "1.2.3.-4", ":", ":::", "1:::2", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "::g",
            "1:2:3:4:5:6:7:8::", "fe80::1%eth0", "1:", ":1", "::1.2.3", "1.2.3.4::", "1:2:3:4:5:6:7:1.2.3.4",
        ]
    )
    func refuses(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test(
        "addresses print in canonical form",
        arguments: [
            ("203.0.113.9", "203.0.113.9"),
            ("2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"),
            ("::", "::"),
            ("1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"),
            ("fe80::", "fe80::"),
        ]
    )
    func description(text: String, canonical: String) {
        #expect(IPAddress(text)?.description == canonical)
    }

    @Test(
        "prefixes parse; a bare address is a host prefix",
        arguments: [
            ("203.0.113.0/24", "203.0.113.0/24"),
            ("203.0.113.9", "203.0.113.9/32"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("2001:db8::1", "2001:db8::1/128"),
            ("::ffff:203.0.113.0/120", "203.0.113.0/24"),
        ]
    )
    func prefixes(text: String, expected: String) throws {
        #expect(try IPNetwork(parsing: text).description == expected)
    }

    @Test("host bits set are refused with the network that was probably meant")
    func hostBits() {
        #expect(
            throws: IPNetwork.ParseError.hostBitsSet(network: IPNetwork(address: .v4(0xcb00_7100), prefixLength: 24))
        ) {
            try IPNetwork(parsing: "203.0.113.9/24")
        }
    }

    @Test(
        "bad prefix lengths are refused",
        arguments: ["1.2.3.4/33", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/08", "::/129", "1.2.3.4/2 ", "::ffff:1.2.3.4/95"]
    )
    func badLengths(text: String) {
        #expect(throws: IPNetwork.ParseError.badPrefixLength) { try IPNetwork(parsing: text) }
    }

    @Test("containment and overlap")
    func containment() throws {
        let private10 = try IPNetwork(parsing: "10.0.0.0/8")
        #expect(private10.contains(IPAddress("10.200.1.1")!))
        #expect(!private10.contains(IPAddress("11.0.0.0")!))
        #expect(!private10.contains(IPAddress("::a00:1")!))
        #expect(private10.overlaps(try IPNetwork(parsing: "8.0.0.0/6")))
        #expect(private10.overlaps(try IPNetwork(parsing: "10.1.0.0/16")))
        #expect(!private10.overlaps(try IPNetwork(parsing: "12.0.0.0/6")))
    }
}
