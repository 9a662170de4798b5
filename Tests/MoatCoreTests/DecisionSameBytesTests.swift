import MoatCore
import Testing

/// `Decision.hasSameBytes(as:)`, which lets a connection resend its last packed answer
/// (docs/semantics.md): every field takes part, and strings by their bytes, not by `==`.
@Suite("Decision.hasSameBytes")
struct DecisionSameBytesTests {
    /// A decision with every optional field present.
    static let full: Decision = {
        var decision = Decision(
            outcome: .allow,
            code: .ok,
            innerCode: .accessDenied,
            stage: .allow,
            message: "m",
            admittedBy: Admission(kind: .trustedService, index: 1, rule: "r", service: "s", mode: .subscription),
            grantedBy: Grant(
                kind: .roleAssignment,
                index: 2,
                objectId: "o",
                applicationId: "a",
                id: "i",
                role: "role",
                roleDefinitionId: "d"
            ),
            required: "q",
            wwwAuthenticate: "w",
            revision: Revision(sequence: 3, hash: "h"),
            caller: Caller(objectId: "co", applicationId: "ca", tenantId: "ct", issuer: "ci")
        )
        decision.enableRbacAuthorization = true
        return decision
    }()

    static let strings: [any WritableKeyPath<Decision, String> & Sendable] = [
        \.message, \.required!, \.wwwAuthenticate!, \.revision.hash,
        \.caller!.objectId, \.caller!.applicationId, \.caller!.tenantId, \.caller!.issuer,
        \.admittedBy!.rule!, \.admittedBy!.service!,
        \.grantedBy!.objectId!, \.grantedBy!.applicationId!, \.grantedBy!.id!, \.grantedBy!.role!,
        \.grantedBy!.roleDefinitionId!,
    ]

    @Test("a string written with other bytes but equal by ==, in any field, is not the same")
    func canonicallyEquivalent() {
        for field in Self.strings {
            var composed = Self.full
            composed[keyPath: field] = "caf\u{E9}"
            var decomposed = Self.full
            decomposed[keyPath: field] = "cafe\u{301}"
            #expect(composed == decomposed, "\(field)")
            #expect(!composed.hasSameBytes(as: decomposed), "\(field)")
            #expect(composed.hasSameBytes(as: composed), "\(field)")
        }
    }

    @Test("every other field takes part")
    func otherFields() {
        #expect(Self.full.hasSameBytes(as: Self.full))
        let changes: [(String, (inout Decision) -> Void)] = [
            ("outcome", { $0.outcome = .deny }), ("code", { $0.code = .forbidden }),
            ("innerCode", { $0.innerCode = nil }), ("stage", { $0.stage = .network }),
            ("enableRbacAuthorization", { $0.enableRbacAuthorization = false }),
            ("revision.sequence", { $0.revision.sequence = 4 }),
            ("required", { $0.required = nil }), ("wwwAuthenticate", { $0.wwwAuthenticate = nil }),
            ("caller", { $0.caller = nil }), ("admittedBy", { $0.admittedBy = nil }),
            ("admittedBy.kind", { $0.admittedBy?.kind = .ipRule }), ("admittedBy.index", { $0.admittedBy?.index = 9 }),
            ("admittedBy.mode", { $0.admittedBy?.mode = .federated }),
            ("admittedBy.rule", { $0.admittedBy?.rule = nil }),
            ("grantedBy", { $0.grantedBy = nil }), ("grantedBy.kind", { $0.grantedBy?.kind = .accessPolicy }),
            ("grantedBy.index", { $0.grantedBy?.index = 9 }), ("grantedBy.id", { $0.grantedBy?.id = nil }),
        ]
        for (name, change) in changes {
            var changed = Self.full
            change(&changed)
            #expect(!changed.hasSameBytes(as: Self.full), "\(name)")
            #expect(!Self.full.hasSameBytes(as: changed), "\(name)")
        }
    }
}
