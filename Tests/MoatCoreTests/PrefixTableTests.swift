import MoatTestSupport
import Testing

@testable import MoatCore

@Suite("Longest-prefix lookup")
struct PrefixTableTests {
    /// The reference answer: scan every rule.
    static func bruteForce(_ rules: [IPNetwork], _ address: IPAddress) -> Int32? {
        var best: (length: Int, index: Int)?
        for (index, rule) in rules.enumerated() where rule.contains(address) {
            if best == nil || rule.prefixLength > best!.length { best = (rule.prefixLength, index) }
        }
        return best.map { Int32($0.index) }
    }

    @Test("matches a linear scan on random rule sets", arguments: [1, 5, 40, 1000])
    func randomIPv4(ruleCount: Int) {
        var random = SplitMix64(seed: UInt64(ruleCount))
        // Cluster addresses in a few /8s so that prefixes nest and overlap.
        func address() -> UInt32 {
            UInt32.random(in: 0...3, using: &random) << 24 | UInt32.random(in: 0...0xff_ffff, using: &random)
        }
        var rules: [IPNetwork] = []
        for _ in 0..<ruleCount {
            let length = Int.random(in: 4...32, using: &random)
            rules.append(IPNetwork(address: .v4(address()), prefixLength: length).masked)
        }
        let table = IPPrefixTable(rules.enumerated().map { ($1, Int32($0)) })
        for _ in 0..<4_000 {
            let probe = IPAddress.v4(address())
            #expect(table.lookup(probe) == Self.bruteForce(rules, probe))
        }
        for rule in rules {
            #expect(table.lookup(rule.address) == Self.bruteForce(rules, rule.address))
        }
    }

    @Test("matches a linear scan for IPv6")
    func randomIPv6() {
        var random = SplitMix64(seed: 6)
        func address() -> UInt128 {
            UInt128(UInt64.random(in: 0...3, using: &random)) << 112 | UInt128(random.next()) << 48
        }
        var rules: [IPNetwork] = []
        for _ in 0..<300 {
            rules.append(
                IPNetwork(address: .v6(address()), prefixLength: Int.random(in: 8...80, using: &random)).masked
            )
        }
        let table = IPPrefixTable(rules.enumerated().map { ($1, Int32($0)) })
        for _ in 0..<5_000 {
            let probe = IPAddress.v6(address())
            #expect(table.lookup(probe) == Self.bruteForce(rules, probe))
        }
    }

    @Test("edges of the address space, the whole space, and equal prefixes")
    func edges() throws {
        let rules = try ["0.0.0.0/0", "255.255.255.255", "0.0.0.0/32", "128.0.0.0/1", "203.0.113.0/24"].map {
            try IPNetwork(parsing: $0)
        }
        let table = IPPrefixTable(rules.enumerated().map { ($1, Int32($0)) })
        #expect(table.lookup(.v4(0)) == 2)
        #expect(table.lookup(.v4(1)) == 0)
        #expect(table.lookup(.v4(0xffff_ffff)) == 1)
        #expect(table.lookup(.v4(0xffff_fffe)) == 3)
        #expect(table.lookup(.v4(0xcb00_7105)) == 4)
        #expect(table.lookup(.v6(1)) == nil)
        // The same prefix twice: the lower index wins.
        let same = IPPrefixTable([(try IPNetwork(parsing: "1.2.3.0/24"), 7), (try IPNetwork(parsing: "1.2.3.0/24"), 3)])
        #expect(same.lookup(.v4(0x0102_0304)) == 3)
        #expect(IPPrefixTable([]).lookup(.v4(5)) == nil)
    }
}
