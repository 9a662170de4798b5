import MoatCore
import Testing

/// The decision's codes are extensible structs (a code added later breaks no client's `switch`), with
/// the JSON names of docs/semantics.md ("Every failure") and README.md ("Requests and decisions").
@Suite("Decision codes")
struct DecisionCodeTests {
    @Test("each code keeps its JSON name, HTTP status and audit signature")
    func codes() {
        #expect(
            Decision.Code.allCases.map(\.rawValue) == [
                "OK", "BadParameter", "VaultNotFound", "Unauthorized", "Forbidden",
            ]
        )
        #expect(Decision.Code.allCases.map(\.httpStatus) == [200, 400, 404, 401, 403])
        #expect(
            Decision.Code.allCases.map(\.resultSignature) == [
                "OK", "BadRequest", "NotFound", "Unauthorized", "Forbidden",
            ]
        )
        #expect(
            Decision.InnerCode.allCases.map(\.rawValue) == [
                "MissingToken", "InvalidToken", "TokenExpired", "InvalidAudience", "InvalidIssuer",
                "ForbiddenByConnection", "ForbiddenByFirewall", "ForbiddenByPerimeter", "AccessDenied",
                "ForbiddenByPolicy", "ForbiddenByRbac",
            ]
        )
        #expect(
            Decision.InnerCode.allCases.map(\.code) == Array(repeating: .unauthorized, count: 5)
                + Array(repeating: .forbidden, count: 6)
        )
        #expect(
            Decision.Stage.allCases.map(\.rawValue) == [
                "Request", "Vault", "Authentication", "Network", "Authorization", "Allow",
            ]
        )
        #expect(
            Admission.Kind.allCases.map(\.addressAuthorizationType) == [
                "PrivateLink", "DefaultAllow", "PublicIP", "Subnet", "TrustedService", "Perimeter", "NotApplicable",
            ]
        )
        #expect(
            Admission.TrustedServiceMode.allCases.map(\.rawValue) == ["managedIdentity", "subscription", "federated"]
        )
        #expect(Grant.Kind.allCases.map(\.rawValue) == ["AccessPolicy", "RoleAssignment"])
    }

    @Test("init(rawValue:) finds every member by its exact name and refuses any other name")
    func lookup() {
        for code in Decision.InnerCode.allCases { #expect(Decision.InnerCode(rawValue: code.rawValue) == code) }
        for stage in Decision.Stage.allCases { #expect(Decision.Stage(rawValue: stage.rawValue) == stage) }
        for kind in Admission.Kind.allCases { #expect(Admission.Kind(rawValue: kind.rawValue) == kind) }
        #expect(Decision.Code(rawValue: "forbidden") == nil)
        #expect(Decision.InnerCode(rawValue: "ForbiddenByNothing") == nil)
        #expect(Decision.Stage(rawValue: "") == nil)
        #expect(Grant.Kind(rawValue: "accessPolicy") == nil)
        #expect("\(Decision.InnerCode.forbiddenByFirewall)" == "ForbiddenByFirewall")
    }
}
