import CMoatProto
import MoatCore
import MoatTestSupport
import MoatWire
import NIOCore
import Testing

/// The Swift enums and the proto enums agree by name, in both directions, checked against the
/// descriptors protoc-c generated (so a renumbered or reordered proto value is caught).
@Suite struct EnumDescriptorTests {
    /// (proto name, number) of every value of a proto enum.
    static func values(of descriptor: ProtobufCEnumDescriptor) -> [(name: String, number: Int32)] {
        (0..<Int(descriptor.n_values)).map {
            (String(cString: descriptor.values[$0].name), descriptor.values[$0].value)
        }
    }

    /// "INNER_CODE_FORBIDDEN_BY_RBAC" without its prefix, and "ForbiddenByRbac", both as "forbiddenbyrbac".
    static func normalized(_ name: some StringProtocol, droppingPrefix prefix: String = "") -> String {
        String(name.dropFirst(name.hasPrefix(prefix) ? prefix.count : 0)).replacing("_", with: "").lowercased()
    }

    @Test func operationsMatchTheProtoEnum() throws {
        let protoValues = Self.values(of: moat__v1__operation__descriptor)
        var seen: Set<Operation> = []
        for (name, number) in protoValues {
            if name == "OPERATION_UNSPECIFIED" {
                #expect(number == 0)
                #expect(Operation(rawValue: number) == nil)
                continue
            }
            // OPERATION_GET_DELETED_SECRET -> GetDeletedSecret
            let camel = name.dropFirst("OPERATION_".count).split(separator: "_")
                .map { $0.prefix(1) + $0.dropFirst().lowercased() }.joined()
            let operation = try #require(Operation(rawValue: number), "\(name) = \(number) has no Swift case")
            #expect(operation.name == camel, "\(name) = \(number) is .\(operation) in Swift")
            #expect(Operation(name: camel) == operation)
            seen.insert(operation)
            // And on the wire, through the codec.
            let decoded = try CheckRequest(wirePayload: ProtobufBytes().varint(2, UInt64(number)).buffer)
            #expect(decoded.operation == operation)
        }
        #expect(seen == Set(Operation.allCases), "Swift cases missing from the proto enum")
        #expect(protoValues.count == Operation.allCases.count + 1)
    }

    /// Reads the number a Swift value was encoded as, with protobuf-c directly.
    static func encodedResponse<Value>(
        _ decision: Decision,
        _ read: (Moat__V1__CheckResponse) -> Value
    ) throws -> Value {
        let payload = try decision.payload()
        let bytes = Array(payload.readableBytesView)
        let message = try #require(moat__v1__check_response__unpack(nil, bytes.count, bytes))
        defer { moat__v1__check_response__free_unpacked(message, nil) }
        return read(message.pointee)
    }

    static func decision(
        code: Decision.Code = .forbidden,
        innerCode: Decision.InnerCode? = nil,
        stage: Decision.Stage = .network,
        admittedBy: Admission? = nil,
        grantedBy: Grant? = nil
    ) -> Decision {
        Decision(
            outcome: code == .ok ? .allow : .deny,
            code: code,
            innerCode: innerCode,
            stage: stage,
            message: "",
            admittedBy: admittedBy,
            grantedBy: grantedBy,
            revision: Fixtures.revision
        )
    }

    /// One Swift enum against one proto enum: every proto value (but UNSPECIFIED) decodes to the
    /// Swift case of the same name, and every Swift case encodes to the proto value of its name.
    struct Mapping: Sendable, CustomTestStringConvertible {
        let name: String
        let descriptor: @Sendable () -> ProtobufCEnumDescriptor
        let prefix: String
        /// Swift case names, normalized.
        let swiftNames: [String]
        /// The normalized Swift name a proto number decodes to (in a suitable answer); the second
        /// argument is the proto value's normalized name, for answers that must agree with it.
        let decode: @Sendable (UInt64, String) throws -> String?
        /// The proto number each Swift case (by index in swiftNames) is encoded as.
        let encode: @Sendable (Int) throws -> Int32

        var testDescription: String { name }
    }

    static let mappings: [Mapping] = [
        Mapping(
            name: "ResultCode",
            descriptor: { moat__v1__result_code__descriptor },
            prefix: "RESULT_CODE_",
            swiftNames: Decision.Code.allCases.map { normalized($0.rawValue) },
            decode: { number, protoName in
                // The answer must be consistent: take the status and outcome of the code of that name.
                let code = Decision.Code.allCases.first { normalized($0.rawValue) == protoName }
                let http = UInt64(code?.httpStatus ?? 0)
                let bytes = ProtobufBytes().varint(1, code == .ok ? 1 : 2).varint(2, http).varint(3, number).varint(
                    6,
                    4
                )
                return try normalized(Decision(wirePayload: bytes.buffer).code.rawValue)
            },
            encode: { index in
                try Int32(encodedResponse(decision(code: Decision.Code.allCases[index])) { $0.code.rawValue })
            }
        ),
        Mapping(
            name: "InnerCode",
            descriptor: { moat__v1__inner_code__descriptor },
            prefix: "INNER_CODE_",
            swiftNames: Decision.InnerCode.allCases.map { normalized($0.rawValue) },
            decode: { number, _ in
                let bytes = ProtobufBytes().varint(1, 2).varint(2, 403).varint(3, 5).varint(4, number).varint(6, 4)
                return try Decision(wirePayload: bytes.buffer).innerCode.map { normalized($0.rawValue) }
            },
            encode: { index in
                try Int32(
                    encodedResponse(decision(innerCode: Decision.InnerCode.allCases[index])) { $0.inner_code.rawValue }
                )
            }
        ),
        Mapping(
            name: "Stage",
            descriptor: { moat__v1__stage__descriptor },
            prefix: "STAGE_",
            swiftNames: Decision.Stage.allCases.map { normalized($0.rawValue) },
            decode: { number, _ in
                let bytes = ProtobufBytes().varint(1, 2).varint(2, 403).varint(3, 5).varint(6, number)
                return try normalized(Decision(wirePayload: bytes.buffer).stage.rawValue)
            },
            encode: { index in
                try Int32(encodedResponse(decision(stage: Decision.Stage.allCases[index])) { $0.stage.rawValue })
            }
        ),
        Mapping(
            name: "AdmissionKind",
            descriptor: { moat__v1__admission_kind__descriptor },
            prefix: "ADMISSION_KIND_",
            swiftNames: Admission.Kind.allCases.map { normalized($0.rawValue) },
            decode: { number, _ in
                let bytes = ProtobufBytes().varint(1, 2).varint(2, 403).varint(3, 5).varint(6, 4)
                    .message(7, ProtobufBytes().varint(1, number))
                return try Decision(wirePayload: bytes.buffer).admittedBy.map { normalized($0.kind.rawValue) }
            },
            encode: { index in
                let admission = Admission(kind: Admission.Kind.allCases[index])
                return try Int32(
                    encodedResponse(decision(admittedBy: admission)) { $0.admitted_by.pointee.kind.rawValue }
                )
            }
        ),
        Mapping(
            name: "TrustedServiceMode",
            descriptor: { moat__v1__trusted_service_mode__descriptor },
            prefix: "TRUSTED_SERVICE_MODE_",
            swiftNames: Admission.TrustedServiceMode.allCases.map { normalized($0.rawValue) },
            decode: { number, _ in
                let bytes = ProtobufBytes().varint(1, 2).varint(2, 403).varint(3, 5).varint(6, 4)
                    .message(7, ProtobufBytes().varint(1, 5).varint(5, number))
                return try Decision(wirePayload: bytes.buffer).admittedBy?.mode.map { normalized($0.rawValue) }
            },
            encode: { index in
                let admission = Admission(kind: .trustedService, mode: Admission.TrustedServiceMode.allCases[index])
                return try Int32(
                    encodedResponse(decision(admittedBy: admission)) { $0.admitted_by.pointee.mode.rawValue }
                )
            }
        ),
        Mapping(
            name: "GrantKind",
            descriptor: { moat__v1__grant_kind__descriptor },
            prefix: "GRANT_KIND_",
            swiftNames: Grant.Kind.allCases.map { normalized($0.rawValue) },
            decode: { number, _ in
                let bytes = ProtobufBytes().varint(1, 2).varint(2, 403).varint(3, 5).varint(6, 4)
                    .message(8, ProtobufBytes().varint(1, number))
                return try Decision(wirePayload: bytes.buffer).grantedBy.map { normalized($0.kind.rawValue) }
            },
            encode: { index in
                let grant = Grant(kind: Grant.Kind.allCases[index])
                return try Int32(encodedResponse(decision(grantedBy: grant)) { $0.granted_by.pointee.kind.rawValue })
            }
        ),
    ]

    @Test(arguments: mappings)
    func swiftAndProtoEnumsAgree(mapping: Mapping) throws {
        let protoValues = Self.values(of: mapping.descriptor())
        let unspecified = try #require(protoValues.first { $0.number == 0 })
        #expect(unspecified.name == "\(mapping.prefix)UNSPECIFIED")
        let named = protoValues.filter { $0.number != 0 }
        #expect(named.count == mapping.swiftNames.count, "the enums have different sizes")
        for (name, number) in named {
            #expect(
                try mapping.decode(UInt64(number), Self.normalized(name, droppingPrefix: mapping.prefix))
                    == Self.normalized(name, droppingPrefix: mapping.prefix),
                "\(name) = \(number) decodes to another Swift case"
            )
        }
        for (index, swiftName) in mapping.swiftNames.enumerated() {
            let number = try mapping.encode(index)
            let protoName = try #require(named.first { $0.number == number }?.name, "\(swiftName) encodes as \(number)")
            #expect(Self.normalized(protoName, droppingPrefix: mapping.prefix) == swiftName)
        }
    }
}
