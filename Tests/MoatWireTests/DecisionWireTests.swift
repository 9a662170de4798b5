import MoatCore
import MoatTestSupport
import MoatWire
import NIOCore
import Testing

@Suite struct DecisionWireTests {
    @Test(arguments: Fixtures.decisions)
    func roundTrips(decision: Decision) throws {
        #expect(try Decision(wirePayload: try decision.payload()) == decision)
    }

    /// Issue 8, H1: packing a decision never fails, whatever it echoes of a caller's input (a 401
    /// whose caller and message carry a token's `iss` of "\u{0}"): a NUL becomes U+FFFD, and long
    /// strings are cut at the documented lengths, ending in "…".
    @Test func encodingIsTotal() throws {
        let nul = "\u{0}"
        let decision = Decision(
            outcome: .deny,
            code: .unauthorized,
            innerCode: .invalidIssuer,
            stage: .authentication,
            message: "Issuer '\(nul)' is not valid. " + String(repeating: "é", count: 5000),
            admittedBy: Admission(
                kind: .ipRule,
                index: 1,
                rule: "r\(nul)",
                service: String(repeating: "s", count: 2000)
            ),
            grantedBy: Grant(kind: .accessPolicy, index: 0, objectId: nul, applicationId: "a"),
            required: "secrets/get\(nul)",
            wwwAuthenticate: "Bearer authorization=\"\(nul)\"",
            revision: Revision(sequence: 1, hash: "h\(nul)"),
            caller: Caller(objectId: "o", applicationId: "a", tenantId: "t", issuer: nul)
        )
        let decoded = try Decision(wirePayload: try decision.payload())
        #expect(decoded.message.hasPrefix("Issuer '\u{FFFD}' is not valid. éé"))
        #expect(decoded.message.hasSuffix("é…"))
        #expect(decoded.message.utf8.count <= Decision.maximumWireMessageBytes)
        #expect(decoded.message.utf8.count > Decision.maximumWireMessageBytes - 4)
        #expect(decoded.caller == Caller(objectId: "o", applicationId: "a", tenantId: "t", issuer: "\u{FFFD}"))
        #expect(decoded.admittedBy?.rule == "r\u{FFFD}")
        #expect(decoded.admittedBy?.service == String(repeating: "s", count: Decision.maximumWireFieldBytes - 3) + "…")
        #expect(decoded.grantedBy?.objectId == "\u{FFFD}")
        #expect(decoded.required == "secrets/get\u{FFFD}")
        #expect(decoded.wwwAuthenticate == "Bearer authorization=\"\u{FFFD}\"")
        #expect(decoded.revision.hash == "h\u{FFFD}")
        // Strings within the limits travel unchanged (the fixtures round-trip byte for byte).
        let exact = String(repeating: "x", count: Decision.maximumWireMessageBytes)
        var fits = decision
        fits.message = exact
        #expect(try Decision(wirePayload: try fits.payload()).message == exact)
        // In a batch too.
        let batch = CheckBatchResponse(items: [.decision(decision), .decision(Fixtures.decisions[0])])
        let items = try CheckBatchResponse(wirePayload: try batch.payload()).items
        #expect(items == [.decision(decoded), .decision(Fixtures.decisions[0])])
    }

    /// Pins the encoding to authz.proto's field numbers, independently of protobuf-c.
    @Test func matchesHandBuiltBytes() throws {
        let decision = Decision(
            outcome: .deny,
            code: .forbidden,
            innerCode: .forbiddenByFirewall,
            stage: .network,
            message: "no",
            admittedBy: Admission(kind: .ipRule, index: 4, rule: "r", service: "s", mode: .federated),
            grantedBy: Grant(
                kind: .roleAssignment,
                index: 6,
                objectId: "o",
                applicationId: "a",
                id: "i",
                role: "ro",
                roleDefinitionId: "rd"
            ),
            required: "secrets/get",
            wwwAuthenticate: "Bearer",
            revision: Revision(sequence: 9, hash: "h")
        )
        let bytes = ProtobufBytes()
            .varint(1, 2).varint(2, 403).varint(3, 5).varint(4, 7).string(5, "no").varint(6, 4)
            .message(7, ProtobufBytes().varint(1, 3).varint(2, 4).string(3, "r").string(4, "s").varint(5, 3))
            .message(
                8,
                ProtobufBytes().varint(1, 2).varint(2, 6).string(3, "o").string(4, "a").string(5, "i")
                    .string(6, "ro").string(7, "rd")
            )
            .string(9, "secrets/get").string(10, "Bearer")
            .message(11, ProtobufBytes().varint(1, 9).string(2, "h"))
        #expect(try Decision(wirePayload: bytes.buffer) == decision)
        #expect(try decision.payload() == bytes.buffer)
    }

    @Test func callerTravelsButTheAuditFlagDoesNot() throws {
        var decision = Fixtures.decisions[0]
        decision.caller = Caller(objectId: "o", applicationId: "a", tenantId: "t", issuer: "i")
        decision.enableRbacAuthorization = true
        let payload = try decision.payload()
        let decoded = try Decision(wirePayload: payload)
        #expect(decoded.caller == decision.caller)
        #expect(decoded.enableRbacAuthorization == nil)
        // Field 12 is packed last, after the fields of the decision without a caller.
        var expected = try Fixtures.decisions[0].payload()
        var caller = ProtobufBytes().message(
            12,
            ProtobufBytes().string(1, "o").string(2, "a").string(3, "t").string(4, "i")
        ).buffer
        expected.writeBuffer(&caller)
        #expect(payload == expected)
    }

    /// An index travels only where it means something; zero is a real position.
    @Test(arguments: [
        (Admission(kind: .ipRule, index: 0, rule: "r"), Admission(kind: .ipRule, index: 0, rule: "r")),
        (Admission(kind: .virtualNetworkRule, index: 0), Admission(kind: .virtualNetworkRule, index: 0)),
        (Admission(kind: .trustedService, index: 5, service: "s"), Admission(kind: .trustedService, service: "s")),
        (Admission(kind: .privateEndpoint, index: 2, rule: "pe"), Admission(kind: .privateEndpoint, rule: "pe")),
        (Admission(kind: .defaultAllow, index: 1), Admission(kind: .defaultAllow)),
        (Admission(kind: .perimeter, rule: "", service: ""), Admission(kind: .perimeter)),
    ])
    func admissionIndex(sent: Admission, received: Admission) throws {
        let decision = Decision(
            outcome: .allow,
            code: .ok,
            stage: .allow,
            message: "",
            admittedBy: sent,
            revision: Fixtures.revision
        )
        #expect(try Decision(wirePayload: try decision.payload()).admittedBy == received)
    }

    @Test(arguments: [
        (Grant(kind: .accessPolicy, index: 0), Grant(kind: .accessPolicy, index: 0)),
        (Grant(kind: .roleAssignment, index: 0, id: "i"), Grant(kind: .roleAssignment, index: 0, id: "i")),
        (Grant(kind: .accessPolicy, index: 3, objectId: "", applicationId: ""), Grant(kind: .accessPolicy, index: 3)),
    ])
    func grantIndexAndEmptyStrings(sent: Grant, received: Grant) throws {
        let decision = Decision(
            outcome: .allow,
            code: .ok,
            stage: .allow,
            message: "",
            grantedBy: sent,
            revision: Fixtures.revision
        )
        #expect(try Decision(wirePayload: try decision.payload()).grantedBy == received)
    }

    @Test func emptyOptionalStringsDecodeAsNil() throws {
        let decision = Decision(
            outcome: .deny,
            code: .unauthorized,
            innerCode: .missingToken,
            stage: .authentication,
            message: "",
            required: "",
            wwwAuthenticate: "",
            revision: Fixtures.revision
        )
        let decoded = try Decision(wirePayload: try decision.payload())
        #expect(decoded.required == nil)
        #expect(decoded.wwwAuthenticate == nil)
        #expect(decoded.message == "")
    }

    /// A minimal valid answer, to vary one field at a time.
    static func answer(decision: UInt64 = 1, http: UInt64 = 200, code: UInt64 = 1, stage: UInt64 = 6) -> ProtobufBytes {
        ProtobufBytes().varint(1, decision).varint(2, http).varint(3, code).varint(6, stage)
    }

    @Test(arguments: [
        ProtobufBytes(),
        answer(decision: 0),
        ProtobufBytes().varint(2, 200).varint(3, 1).varint(6, 6),
        answer(decision: 3),
        answer().varint(1, 0),  // the last occurrence wins
        ProtobufBytes().varint(1, signed: -1).varint(2, 200).varint(3, 1).varint(6, 6),
    ])
    func refusesAnAnswerWithoutDecision(bytes: ProtobufBytes) {
        let error = #expect(throws: MessageCodingError.self) { try Decision(wirePayload: bytes.buffer) }
        #expect(error?.code == .noDecision)
        #expect(error?.field == "decision")
        #expect(error?.message.hasPrefix("could not decide") == true)
    }

    @Test(arguments: [
        (answer(code: 0), "code"),
        (answer(code: 9), "code"),
        (answer(http: 403), "http_status"),
        (answer(http: 0), "http_status"),
        (answer(decision: 1, http: 403, code: 5), "code"),  // an allow that says Forbidden
        (answer(decision: 2, http: 200, code: 1), "code"),  // a deny that says OK
        (answer(stage: 0), "stage"),
        (answer(stage: 7), "stage"),
        (answer(decision: 2, http: 403, code: 5).varint(4, 12), "inner_code"),
        (answer().message(7, ProtobufBytes().varint(1, 8)), "admitted_by.kind"),
        (answer().message(7, ProtobufBytes().varint(1, 5).varint(5, 4)), "admitted_by.mode"),
        (answer().message(7, ProtobufBytes().varint(1, 3).varint(2, signed: -1)), "admitted_by.index"),
        (answer().message(8, ProtobufBytes().varint(1, 3)), "granted_by.kind"),
        (answer().message(8, ProtobufBytes().varint(1, 1).varint(2, signed: -5)), "granted_by.index"),
    ])
    func refusesValuesItCannotRepresent(bytes: ProtobufBytes, field: String) {
        let error = #expect(throws: MessageCodingError.self) { try Decision(wirePayload: bytes.buffer) }
        #expect(error?.code == .invalidValue)
        #expect(error?.field == field)
    }

    @Test func unspecifiedKindsAreAbsent() throws {
        let bytes = Self.answer().message(7, ProtobufBytes().varint(2, 3).string(3, "r")).message(8, ProtobufBytes())
        let decoded = try Decision(wirePayload: bytes.buffer)
        #expect(decoded.admittedBy == nil)
        #expect(decoded.grantedBy == nil)
        #expect(decoded.revision == Revision(sequence: 0, hash: ""))
    }

    @Test(arguments: [
        (ProtobufBytes().bytes(5, Array("a\u{0}b".utf8)), "message"),
        (ProtobufBytes().message(7, ProtobufBytes().bytes(3, [0xff])), "admitted_by.rule"),
        (ProtobufBytes().message(8, ProtobufBytes().bytes(6, [0xc3])), "granted_by.role"),
        (ProtobufBytes().message(11, ProtobufBytes().bytes(2, [0])), "revision.hash"),
        (ProtobufBytes().bytes(10, [0xe0, 0x80, 0x80]), "www_authenticate"),
    ])
    func refusesNulAndInvalidUTF8(bytes: ProtobufBytes, field: String) {
        let error = #expect(throws: MessageCodingError.self) { try Decision(wirePayload: bytes.buffer) }
        #expect(error?.code == .invalidString)
        #expect(error?.field == field)
    }
}
