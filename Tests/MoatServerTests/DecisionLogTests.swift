import MoatCore
import Testing

@testable import MoatServer

/// SEMANTICS.md section 9: the audit record's fields for each kind of decision.
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
            message: "denied: \(stage)",
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
                "message": .string("denied: network"),
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
