import Foundation
import MoatCore
import Testing

@testable import MoatServer

/// docs/semantics.md "What a decision reports": the audit record's fields for each kind of decision.
@Suite("Decision log records")
struct DecisionLogTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var decision: Decision
        var subnetId = ""
        /// The fields to compare (all others are not checked here).
        var expected: [String: JSONValue]
        var testDescription: String { name }
    }

    static let revision = Revision(sequence: 3, hash: "0123456789abcdef")
    static let caller = Caller(
        objectId: "a11ce000-0000-4000-8000-000000000001",
        applicationId: "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        tenantId: "de300000-0000-4000-8000-000000000001",
        issuer: "https://sts.windows.net/de300000-0000-4000-8000-000000000001/"
    )
    static let assignment = "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/ra"

    static func allow(_ admission: Admission, _ grant: Grant) -> Decision {
        Decision(
            outcome: .allow,
            code: .ok,
            stage: .allow,
            message: "ok",
            admittedBy: admission,
            grantedBy: grant,
            revision: revision,
            caller: caller
        )
    }

    static func deny(
        _ code: Decision.Code,
        _ innerCode: Decision.InnerCode?,
        _ stage: Decision.Stage,
        admittedBy: Admission? = nil
    ) -> Decision {
        Decision(
            outcome: .deny,
            code: code,
            innerCode: innerCode,
            stage: stage,
            message: "denied: \(stage.rawValue)",
            admittedBy: admittedBy,
            revision: revision,
            caller: stage == .request || stage == .vault ? nil : caller
        )
    }

    static let policy = Grant(kind: .accessPolicy, index: 0, objectId: caller.objectId)

    static let cases: [Case] = [
        Case(
            name: "allowed by an IP rule and an access policy",
            decision: allow(Admission(kind: .ipRule, index: 0, rule: "203.0.113.0/24"), policy),
            expected: [
                "resultSignature": .string("OK"), "httpStatusCode": .number("200"), "innerCode": .null,
                "addressAuthorizationType": .string("PublicIP"), "isAddressAuthorized": .bool(true),
                "isAccessPolicyMatch": .bool(true), "isRbacAuthorized": .null, "appliedAssignmentId": .null,
                "message": .null,
                "identity": .object([
                    ("oid", .string(caller.objectId)), ("appid", .string(caller.applicationId)),
                    ("tid", .string(caller.tenantId)),
                ]),
            ]
        ),
        Case(
            name: "allowed through a subnet",
            decision: allow(Admission(kind: .virtualNetworkRule, index: 1, rule: "/subscriptions/s/subnets/a"), policy),
            subnetId: "/subscriptions/s/subnets/a",
            expected: [
                "addressAuthorizationType": .string("Subnet"), "subnetId": .string("/subscriptions/s/subnets/a"),
            ]
        ),
        Case(
            name: "allowed through a subnet resolved from a declared prefix",
            decision: allow(Admission(kind: .virtualNetworkRule, index: 1, rule: "/subscriptions/s/subnets/a"), policy),
            expected: ["subnetId": .string("/subscriptions/s/subnets/a")]
        ),
        Case(
            name: "allowed through a private endpoint",
            decision: allow(Admission(kind: .privateEndpoint, rule: "/subscriptions/s/privateEndpoints/pe"), policy),
            expected: ["addressAuthorizationType": .string("PrivateLink"), "subnetId": .null]
        ),
        Case(
            name: "allowed as a trusted service",
            decision: allow(Admission(kind: .trustedService, service: "Azure SQL", mode: .managedIdentity), policy),
            expected: ["addressAuthorizationType": .string("TrustedService"), "trustedService": .string("Azure SQL")]
        ),
        Case(
            name: "allowed by a role assignment",
            decision: allow(
                Admission(kind: .perimeter, rule: "198.51.100.0/24"),
                Grant(kind: .roleAssignment, index: 2, id: assignment, role: "Key Vault Secrets User")
            ),
            expected: [
                "addressAuthorizationType": .string("Perimeter"), "isRbacAuthorized": .bool(true),
                "appliedAssignmentId": .string(assignment), "isAccessPolicyMatch": .null,
            ]
        ),
        Case(
            name: "a control-plane operation passes no network gate",
            decision: allow(Admission(kind: .notApplicable), Grant(kind: .roleAssignment, id: assignment)),
            expected: ["addressAuthorizationType": .string("NotApplicable"), "isAddressAuthorized": .bool(true)]
        ),
        Case(
            name: "refused by the firewall",
            decision: deny(.forbidden, .forbiddenByFirewall, .network),
            expected: [
                "resultSignature": .string("Forbidden"), "httpStatusCode": .number("403"),
                "innerCode": .string("ForbiddenByFirewall"), "addressAuthorizationType": .null,
                "isAddressAuthorized": .bool(false), "isAccessPolicyMatch": .null, "isRbacAuthorized": .null,
                "message": .string("denied: Network"),
            ]
        ),
        Case(
            name: "refused by RBAC after the network admitted it",
            decision: deny(.forbidden, .forbiddenByRbac, .authorization, admittedBy: Admission(kind: .defaultAllow)),
            expected: [
                "addressAuthorizationType": .string("DefaultAllow"), "isAddressAuthorized": .bool(true),
                "isRbacAuthorized": .bool(false), "isAccessPolicyMatch": .null,
            ]
        ),
        Case(
            name: "an access-policy entry matched without the permission",
            decision: deny(.forbidden, .forbiddenByPolicy, .authorization, admittedBy: Admission(kind: .defaultAllow)),
            expected: ["isAccessPolicyMatch": .bool(true), "isRbacAuthorized": .null]
        ),
        Case(
            name: "no access-policy entry matched",
            decision: deny(.forbidden, .accessDenied, .authorization, admittedBy: Admission(kind: .defaultAllow)),
            expected: ["isAccessPolicyMatch": .bool(false)]
        ),
        Case(
            name: "a bad request",
            decision: deny(.badParameter, nil, .request),
            expected: [
                "resultSignature": .string("BadRequest"), "httpStatusCode": .number("400"), "identity": .null,
                "isAddressAuthorized": .null,
            ]
        ),
        Case(
            name: "no such vault",
            decision: deny(.vaultNotFound, nil, .vault),
            expected: ["resultSignature": .string("NotFound"), "httpStatusCode": .number("404")]
        ),
        Case(
            name: "no token",
            decision: deny(.unauthorized, .missingToken, .authentication),
            expected: [
                "resultSignature": .string("Unauthorized"), "httpStatusCode": .number("401"),
                "innerCode": .string("MissingToken"), "isAddressAuthorized": .null,
            ]
        ),
    ]

    @Test("the audit fields of each kind of decision", arguments: cases)
    func record(_ testCase: Case) {
        var request = CheckRequest(vault: "contoso-prod", operation: .getSecret, sourceAddress: "203.0.113.9")
        request.subnetId = testCase.subnetId
        request.requestId = "req-1"
        let json = DecisionLog.json(
            DecisionLog.Record(
                unixMillis: 1_800_000_000_123,
                request: request,
                decision: testCase.decision,
                peer: PeerCredentials(pid: 42, uid: 1000, gid: 1000),
                durationMicros: 7
            )
        )
        for (field, expected) in testCase.expected {
            #expect(json[field] == expected, "\(field) is \(json[field].map { $0.serialized() } ?? "missing")")
        }
        #expect(json["time"] == .string("2027-01-15T08:00:00.123Z"))
        #expect(json["correlationId"] == .string("req-1") && json["callerIpAddress"] == .string("203.0.113.9"))
        #expect(json["revision"] == Self.revision.json && json["durationMicros"] == .number("7"))
        #expect(json["peer"] == .object([("pid", .number("42")), ("uid", .number("1000"))]))
    }
}

/// M3 of the hardening review: a flood of denies cannot fill memory or the disk, nor crowd out
/// the records of other peers; drops are reported per peer uid; the file rotates and reopens.
@Suite("Decision log bounds")
struct DecisionLogBoundsTests {
    static func record(uid: UInt32, requestId: String = "req", message: String = "denied") -> DecisionLog.Record {
        var request = CheckRequest(vault: "contoso-prod", operation: .getSecret, sourceAddress: "203.0.113.9")
        request.requestId = requestId
        request.token = "eyJ" + String(repeating: "t", count: 4096)
        return DecisionLog.Record(
            unixMillis: 1_800_000_000_123,
            request: request,
            decision: Decision(
                outcome: .deny,
                code: .vaultNotFound,
                stage: .vault,
                message: message,
                revision: DecisionLogTests.revision
            ),
            peer: PeerCredentials(pid: 42, uid: uid, gid: uid),
            durationMicros: 7
        )
    }

    /// The JSON lines of a file (none when it does not exist).
    static func lines(_ path: String) throws -> [JSONValue] {
        let text = String(decoding: Fixture.read(path), as: UTF8.self)
        return try text.split(separator: "\n").map { try JSONValue(parsing: Array($0.utf8)) }
    }

    /// The value of one metric line of the exposition (`name{labels}`), 0 when absent.
    static func metric(_ metrics: ServerMetrics, _ series: String) -> Int {
        let line = metrics.text().split(separator: "\n").first { $0.hasPrefix(series + " ") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }

    @Test("the queue is bounded by bytes, one uid holds at most half of it, and drops are summarized per uid")
    func queueBound() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let path = directory + "/decisions.log"
            let metrics = ServerMetrics()
            let log = DecisionLog(
                configuration: .init(destination: path, queueBytes: 64 * 1024, maximumFieldBytes: 1024),
                metrics: metrics
            )
            // The writer is not started: nothing leaves the queue.
            let long = String(repeating: "x", count: 4000)
            for index in 0..<1000 { log.submit(Self.record(uid: 1000, requestId: "junk-\(index)-\(long)")) }
            #expect(log.queuedBytes <= 32 * 1024)
            let dropped = Self.metric(metrics, "moat_decision_log_dropped_total")
            #expect(dropped > 900)
            // Another peer still gets its records in.
            log.submit(Self.record(uid: 2000, requestId: "real-deny"))
            #expect(Self.metric(metrics, "moat_decision_log_dropped_total") == dropped)
            #expect(log.queuedBytes <= 64 * 1024)

            log.start(logger: Fixture.logger)
            await log.stop()
            let lines = try Self.lines(path)
            let records = lines.filter { $0["event"] == nil }
            #expect(records.count == 1000 - dropped + 1)
            #expect(records.contains { $0["correlationId"]?.stringValue == "real-deny" })
            let summary = try #require(lines.first { $0["event"]?.stringValue == "DecisionLogDropped" })
            #expect(summary["peer"]?["uid"] == .number("1000"))
            #expect(summary["droppedRecords"] == .number(String(dropped)))
            #expect(summary["message"]?.stringValue == "dropped \(dropped) records from uid 1000")
            #expect(Self.metric(metrics, "moat_decision_log_peer_dropped_total{uid=\"1000\"}") == dropped)
            #expect(Self.metric(metrics, "moat_decision_log_written_total") == records.count)
        }
    }

    @Test("long text fields are cut at a character boundary with a marker; the token is never kept")
    func truncation() {
        let requestId = String(repeating: "é", count: 3000)
        let trimmed = Self.record(uid: 1000, requestId: requestId, message: String(repeating: "m", count: 100_000))
            .trimmed(maximumFieldBytes: 256)
        #expect(trimmed.request.token.isEmpty)
        #expect(trimmed.request.requestId.utf8.count <= 256)
        #expect(trimmed.request.requestId.hasPrefix("éé") && trimmed.request.requestId.hasSuffix("…[6000 bytes]"))
        #expect(trimmed.decision.message.utf8.count <= 1024 && trimmed.decision.message.hasSuffix("…[100000 bytes]"))
        #expect(trimmed.cost < 4096)
        let json = DecisionLog.json(trimmed)
        #expect(json["correlationId"]?.stringValue == trimmed.request.requestId)
        #expect(json.serialized().utf8.count < 4096)
        let short = Self.record(uid: 1000, requestId: "req-1").trimmed(maximumFieldBytes: 256)
        #expect(short.request.requestId == "req-1")
    }

    @Test("a file that would outgrow its limit is rotated to PATH.1, and both stay under the limit")
    func rotation() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let path = directory + "/decisions.log"
            let metrics = ServerMetrics()
            let limit = 64 * 1024
            let log = DecisionLog(
                configuration: .init(destination: path, maximumFileBytes: Int64(limit)),
                metrics: metrics
            )
            log.start(logger: Fixture.logger)
            for index in 0..<400 { log.submit(Self.record(uid: 1000, requestId: "req-\(index)")) }
            await log.stop()
            let current = Fixture.read(path)
            let rotated = Fixture.read(path + ".1")
            #expect(current.count <= limit && !current.isEmpty)
            #expect(rotated.count <= limit && rotated.count > limit / 2)
            #expect(Self.metric(metrics, "moat_decision_log_rotations_total") >= 1)
            // Every line is whole, and the newest records are in the current file.
            let records = try Self.lines(path + ".1") + Self.lines(path)
            #expect(records.last?["correlationId"]?.stringValue == "req-399")
            let numbers = records.compactMap { $0["correlationId"]?.stringValue?.dropFirst(4) }.compactMap { Int($0) }
            #expect(numbers == Array(numbers.sorted()))
        }
    }

    @Test("reopen (SIGUSR1) after the file was moved away writes a new file at the path")
    func reopen() async throws {
        try await Fixture.withTemporaryDirectory { directory in
            let path = directory + "/decisions.log"
            let log = DecisionLog(configuration: .init(destination: path), metrics: ServerMetrics())
            log.start(logger: Fixture.logger)
            log.submit(Self.record(uid: 1000, requestId: "before"))
            let deadline = ContinuousClock.now + .seconds(30)
            while Fixture.read(path).isEmpty && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(rename(path, path + ".moved") == 0)
            log.reopen()
            log.submit(Self.record(uid: 1000, requestId: "after"))
            await log.stop()
            #expect(try Self.lines(path + ".moved").map { $0["correlationId"]?.stringValue } == ["before"])
            #expect(try Self.lines(path).map { $0["correlationId"]?.stringValue } == ["after"])
        }
    }

    @Test("a writer blocked on its destination never blocks checks, bounds the queue, and does not hold up shutdown")
    func blockedWriter() async {
        await Fixture.withTemporaryDirectory { directory in
            // A FIFO nobody reads: the writer blocks in open(2) until a reader comes.
            let path = directory + "/decisions.fifo"
            #expect(mkfifo(path, 0o600) == 0)
            let metrics = ServerMetrics()
            let log = DecisionLog(configuration: .init(destination: path, queueBytes: 64 * 1024), metrics: metrics)
            log.start(logger: Fixture.logger)
            for index in 0..<1000 { log.submit(Self.record(uid: 1000, requestId: "req-\(index)")) }
            #expect(log.queuedBytes <= 32 * 1024)
            let dropped = Self.metric(metrics, "moat_decision_log_dropped_total")
            #expect(dropped > 900)
            #expect(await log.stop(within: .milliseconds(200)) == false)

            // A reader unblocks the writer: it writes what it holds and ends.
            let reader = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            #expect(reader >= 0)
            defer { close(reader) }
            #expect(await log.stop(within: .seconds(60)))
            var bytes = [UInt8](repeating: 0, count: 1 << 20)
            let count = bytes.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
            let lines = String(decoding: bytes[..<max(count, 0)], as: UTF8.self).split(separator: "\n")
            #expect(lines.count == 1000 - dropped + 1)
            #expect(lines.last?.contains("\"droppedRecords\":\(dropped)") == true)
        }
    }
}
