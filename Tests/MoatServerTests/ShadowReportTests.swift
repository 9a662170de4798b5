import MoatCore
import MoatWire
import Testing

@testable import MoatServer

/// The shadow report's comparison and grouping (docs/protocol.md, "Shadow rule sets").
@Suite("Shadow report")
struct ShadowReportTests {
    static let revision = Revision(sequence: 1, hash: "0123456789abcdef")
    static let alice = Caller(
        objectId: "a11ce000-0000-4000-8000-000000000001",
        applicationId: "",
        tenantId: "t",
        issuer: "i"
    )

    static func request(from address: String = "203.0.113.9", vault: String = "v") -> CheckRequest {
        var request = CheckRequest()
        request.vault = vault
        request.operation = Operation(name: "GetSecret")
        request.sourceAddress = address
        return request
    }

    static func allowedBy(ipRule index: Int, _ cidr: String, policy: Int = 0) -> Decision {
        Decision(
            outcome: .allow,
            code: .ok,
            stage: .allow,
            message: "",
            admittedBy: Admission(kind: .ipRule, index: index, rule: cidr),
            grantedBy: Grant(kind: .accessPolicy, index: policy, objectId: alice.objectId),
            required: "secrets/get",
            revision: revision,
            caller: alice
        )
    }

    static let firewall = Decision(
        outcome: .deny,
        code: .forbidden,
        innerCode: .forbiddenByFirewall,
        stage: .network,
        message: "Client address is not authorized",
        revision: revision,
        caller: alice
    )

    @Test("rules are compared by value: the same rule at another position is no change")
    func byValue() {
        var report = ShadowReport()
        let change = report.record(
            Self.request(),
            serving: Self.allowedBy(ipRule: 2, "192.0.2.0/24", policy: 3),
            candidate: Self.allowedBy(ipRule: 1, "192.0.2.0/24", policy: 0),
            atMillis: 1
        )
        #expect(change == nil)
        #expect(report.compared == 1 && report.reasonChanged == 0 && report.groups().groups.isEmpty)
        // Another rule admitting is a reason change.
        let other = report.record(
            Self.request(),
            serving: Self.allowedBy(ipRule: 2, "192.0.2.0/24"),
            candidate: Self.allowedBy(ipRule: 2, "192.0.2.0/25"),
            atMillis: 2
        )
        #expect(other == .reason)
        #expect(report.reasonChanged == 1)
    }

    @Test("checks alike are grouped with their count and first and last seen; the words name the rule")
    func grouping() throws {
        var report = ShadowReport()
        for (millis, address) in [(10, "198.51.100.7"), (20, "198.51.100.200"), (30, "198.51.100.9")] {
            #expect(
                report.record(
                    Self.request(from: address),
                    serving: Self.allowedBy(ipRule: 1, "198.51.100.0/24"),
                    candidate: Self.firewall,
                    atMillis: Int64(millis)
                ) == .allowToDeny
            )
        }
        // Another prefix: another group.
        report.record(
            Self.request(from: "198.51.101.1"),
            serving: Self.allowedBy(ipRule: 1, "198.51.100.0/23"),
            candidate: Self.firewall,
            atMillis: 40
        )
        report.record(
            Self.request(),
            serving: Self.firewall,
            candidate: Self.allowedBy(ipRule: 0, "0.0.0.0/0"),
            atMillis: 50
        )
        #expect(report.compared == 5 && report.allowToDeny == 4 && report.denyToAllow == 1)
        let (groups, otherFlips, otherReasons) = report.groups()
        #expect(otherFlips == 0 && otherReasons == 0)
        #expect(groups.count == 3)
        let first = groups[0]
        #expect(first.change == .allowToDeny)
        #expect(first.count == 3)
        #expect(first.firstSeenUnixMillis == 10 && first.lastSeenUnixMillis == 30)
        #expect(first.sourcePrefix == "198.51.100.0/24")
        #expect(first.caller == Self.alice.objectId)
        #expect(first.operation == "GetSecret")
        #expect(
            first.serving == "allowed by IP rule 1 (198.51.100.0/24), access policy 0 (objectId \(Self.alice.objectId))"
        )
        #expect(first.candidate == "denied ForbiddenByFirewall")
        #expect(groups.contains { $0.change == .denyToAllow && $0.count == 1 })
    }

    @Test("source prefixes: /24 for IPv4, /64 for IPv6, else the subnet named")
    func prefixes() {
        #expect(ShadowReport.sourcePrefix(Self.request(from: "203.0.113.77")) == "203.0.113.0/24")
        #expect(ShadowReport.sourcePrefix(Self.request(from: "2001:db8:1:2:3:4:5:6")) == "2001:db8:1:2::/64")
        var request = Self.request(from: "")
        request.subnetId = "/subscriptions/s/subnets/a"
        #expect(ShadowReport.sourcePrefix(request) == "/subscriptions/s/subnets/a")
    }

    @Test("memory stays bounded under many distinct groups; every check is counted once")
    func bounded() {
        var report = ShadowReport()
        let total = 20_000
        // One heavy group arriving late, among thousands seen once.
        for index in 0..<total {
            let heavy = index >= total - 500
            let request = Self.request(from: heavy ? "198.51.100.1" : "10.0.0.1", vault: heavy ? "v" : "v\(index)")
            report.record(
                request,
                serving: Self.allowedBy(ipRule: 0, "0.0.0.0/0"),
                candidate: Self.firewall,
                atMillis: 1
            )
        }
        #expect(report.keptGroups <= ShadowReport.groupCapacity)
        let (groups, otherFlips, _) = report.groups()
        #expect(groups.count == ShadowReport.listedGroups)
        #expect(groups.reduce(0) { $0 + $1.count } + otherFlips == UInt64(total))
        // The heavy group is kept and listed first.
        #expect(groups.first?.vault == "v" && groups.first?.count == 500)
    }
}
