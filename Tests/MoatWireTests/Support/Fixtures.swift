import MoatCore
import MoatWire
import NIOCore

/// Sample values covering every field and every enum case of the data-socket messages.
enum Fixtures {
    static let revision = Revision(sequence: 7, hash: "3fa2c1d0e9b87a65")

    /// A JWT-shaped token of about 1 KB.
    static let token: String = {
        let header = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3Qta2V5LTEiLCJ0eXAiOiJKV1QifQ"
        let body = String(repeating: "eyJvaWQiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDEifQ", count: 12)
        let signature = String(repeating: "c2lnbmF0dXJl", count: 20)
        return "\(header).\(body).\(signature)"
    }()

    static let requests: [CheckRequest] = [
        CheckRequest(),
        CheckRequest(
            vault: "contoso-prod",
            operation: .getSecret,
            objectName: "db-password",
            sourceAddress: "203.0.113.9",
            subnetId: "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s",
            privateEndpointId: "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe",
            token: "Bearer " + token,
            requestId: "4b1c7a52-9d3e-4f0a-8e21-7c5d9b0a1f36",
            timeoutMicros: 250_000
        ),
        CheckRequest(
            vault: "v",
            operation: .vaultsAccessPoliciesWrite,
            sourceAddress: "2001:db8::1",
            timeoutMicros: .max,
            assertedIdentity: AssertedIdentity(
                oid: "11111111-1111-1111-1111-111111111111",
                appid: "22222222-2222-2222-2222-222222222222",
                tid: "33333333-3333-3333-3333-333333333333",
                groups: ["g1", "", "Grüße 🔑", "g4"],
                xmsMirid:
                    "/subscriptions/0000/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id"
            )
        ),
        // An asserted identity that is present but empty stays present.
        CheckRequest(vault: "v", operation: .purgeDeletedKey, assertedIdentity: AssertedIdentity()),
        CheckRequest(
            vault: "ключ-хранилище",
            operation: .setSasDefinition,
            token: String(repeating: "x", count: 70_000)
        ),
    ]

    static let decisions: [Decision] = {
        var all: [Decision] = [
            Decision(
                outcome: .allow,
                code: .ok,
                stage: .allow,
                message: "Access granted",
                admittedBy: Admission(kind: .ipRule, index: 3, rule: "203.0.113.0/24"),
                grantedBy: Grant(kind: .accessPolicy, index: 2, objectId: "oid-1", applicationId: "app-1"),
                required: "secrets/get",
                revision: revision
            ),
            Decision(
                outcome: .allow,
                code: .ok,
                stage: .allow,
                message: "ok",
                admittedBy: Admission(kind: .ipRule, index: 0, rule: "10.0.0.0/8"),
                grantedBy: Grant(kind: .accessPolicy, index: 0, objectId: "oid-0"),
                required: "keys/wrapKey",
                revision: Revision(sequence: 1, hash: "0000000000000000")
            ),
            Decision(
                outcome: .allow,
                code: .ok,
                stage: .allow,
                message: "ok",
                admittedBy: Admission(kind: .virtualNetworkRule, index: 11, rule: "/subscriptions/s/subnets/a"),
                grantedBy: Grant(
                    kind: .roleAssignment,
                    index: 4,
                    objectId: "oid-2",
                    id: "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/ra",
                    role: "Key Vault Secrets User",
                    roleDefinitionId: "4633458b-17de-408a-b874-0445c86b69e6"
                ),
                required: "Microsoft.KeyVault/vaults/secrets/getSecret/action",
                revision: revision
            ),
            Decision(
                outcome: .allow,
                code: .ok,
                stage: .allow,
                message: "ok",
                admittedBy: Admission(kind: .privateEndpoint, rule: "/subscriptions/s/privateEndpoints/pe"),
                revision: revision
            ),
            Decision(
                outcome: .allow,
                code: .ok,
                stage: .allow,
                message: "ok",
                admittedBy: Admission(kind: .defaultAllow),
                revision: revision
            ),
            Decision(
                outcome: .allow,
                code: .ok,
                stage: .allow,
                message: "ok",
                admittedBy: Admission(kind: .perimeter, rule: "192.0.2.0/24"),
                revision: revision
            ),
            Decision(
                outcome: .allow,
                code: .ok,
                stage: .allow,
                message: "ok",
                admittedBy: Admission(kind: .notApplicable),
                required: "Microsoft.KeyVault/vaults/read",
                revision: Revision(sequence: .max, hash: "ffffffffffffffff")
            ),
            Decision(
                outcome: .deny,
                code: .badParameter,
                stage: .request,
                message: "The operation is not known",
                revision: revision
            ),
            Decision(
                outcome: .deny,
                code: .vaultNotFound,
                stage: .vault,
                message: "Vault 'x' not found – ключ 🔑",
                revision: revision
            ),
        ]
        for mode in Admission.TrustedServiceMode.allCases {
            all.append(
                Decision(
                    outcome: .allow,
                    code: .ok,
                    stage: .allow,
                    message: "trusted",
                    admittedBy: Admission(kind: .trustedService, service: "Azure Backup", mode: mode),
                    grantedBy: Grant(kind: .accessPolicy, index: 9, objectId: "oid"),
                    revision: revision
                )
            )
        }
        for inner in Decision.InnerCode.allCases {
            let unauthorized = inner.code == .unauthorized
            all.append(
                Decision(
                    outcome: .deny,
                    code: inner.code,
                    innerCode: inner,
                    stage: unauthorized ? .authentication : (inner == .forbiddenByPolicy ? .authorization : .network),
                    message: "denied: \(inner.rawValue)",
                    admittedBy: unauthorized ? nil : Admission(kind: .virtualNetworkRule, index: 1, rule: "/s"),
                    required: unauthorized ? nil : "secrets/get",
                    wwwAuthenticate: unauthorized
                        ? "Bearer authorization=\"https://login.microsoftonline.com/t\", resource=\"https://vault.azure.net\""
                        : nil,
                    revision: revision
                )
            )
        }
        return all
    }()
}

extension WireMessage {
    /// The message's encoding, as a payload.
    func payload() throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try encode(into: &buffer)
        return buffer
    }
}
