import CMoatProto
import MoatCore
import MoatTestSupport
import MoatWire
import NIOCore
import Testing

/// `ApplyChangeRequest`: every `DocumentChange` case through the `change` oneof.
@Suite struct DocumentChangeWireTests {
    static let requests: [ApplyChangeRequest] = Fixtures.changes.flatMap { change in
        [
            ApplyChangeRequest(change: change),
            ApplyChangeRequest(change: change, expectedRevision: Fixtures.revision.hash, dryRun: true),
        ]
    }

    @Test(arguments: requests)
    func roundTrips(request: ApplyChangeRequest) throws {
        #expect(try ApplyChangeRequest(wirePayload: try request.payload()) == request)
    }

    /// Pins the encoding to control.proto's field numbers, independently of protobuf-c, in both
    /// directions.
    static let handBuilt: [(ApplyChangeRequest, ProtobufBytes)] = [
        (
            ApplyChangeRequest(change: .addIpRule(vault: "v", value: "1.2.3.4"), expectedRevision: "abc", dryRun: true),
            ProtobufBytes().string(1, "v").string(2, "abc").varint(3, 1).message(
                10,
                ProtobufBytes().string(1, "1.2.3.4")
            )
        ),
        (
            ApplyChangeRequest(change: .addIpRule(vault: "", value: "")),
            ProtobufBytes().message(10, ProtobufBytes())
        ),
        (
            ApplyChangeRequest(change: .removeIpRule(vault: "v", value: "10.0.0.0/8")),
            ProtobufBytes().string(1, "v").message(11, ProtobufBytes().string(1, "10.0.0.0/8"))
        ),
        (
            ApplyChangeRequest(
                change: .addVirtualNetworkRule(vault: "v", subnetId: "/s", ignoreMissingVnetServiceEndpoint: true)
            ),
            ProtobufBytes().string(1, "v").message(12, ProtobufBytes().string(1, "/s").varint(2, 1))
        ),
        (
            ApplyChangeRequest(change: .removeVirtualNetworkRule(vault: "v", subnetId: "/s")),
            ProtobufBytes().string(1, "v").message(13, ProtobufBytes().string(1, "/s"))
        ),
        (
            ApplyChangeRequest(
                change: .updateNetwork(
                    vault: "v",
                    defaultAction: "Deny",
                    bypass: nil,
                    publicNetworkAccess: "SecuredByPerimeter"
                )
            ),
            ProtobufBytes().string(1, "v").message(14, ProtobufBytes().varint(1, 2).varint(3, 3))
        ),
        (
            ApplyChangeRequest(
                change: .updateNetwork(
                    vault: "v",
                    defaultAction: "Allow",
                    bypass: "AzureServices",
                    publicNetworkAccess: "Disabled"
                )
            ),
            ProtobufBytes().string(1, "v").message(14, ProtobufBytes().varint(1, 1).varint(2, 1).varint(3, 2))
        ),
        (
            // keys given, secrets replaced with nothing (present, empty), certificates and storage left.
            ApplyChangeRequest(
                change: .setAccessPolicy(
                    vault: "v",
                    objectId: "o",
                    applicationId: "a",
                    permissions: [.secrets: [], .keys: ["get", "list"]]
                )
            ),
            ProtobufBytes().string(1, "v").message(
                15,
                ProtobufBytes().message(1, ProtobufBytes().string(1, "o").string(2, "a"))
                    .message(2, ProtobufBytes().string(1, "get").string(1, "list")).message(3, ProtobufBytes())
            )
        ),
        (
            ApplyChangeRequest(
                change: .setAccessPolicy(
                    vault: "v",
                    objectId: "o",
                    applicationId: nil,
                    permissions: [.storage: ["get"]]
                )
            ),
            ProtobufBytes().string(1, "v").message(
                15,
                ProtobufBytes().message(1, ProtobufBytes().string(1, "o")).message(5, ProtobufBytes().string(1, "get"))
            )
        ),
        (
            ApplyChangeRequest(change: .deleteAccessPolicy(vault: "v", objectId: "o", applicationId: "a")),
            ProtobufBytes().string(1, "v").message(16, ProtobufBytes().string(1, "o").string(2, "a"))
        ),
        (
            ApplyChangeRequest(
                change: .upsertVaults(
                    .object([("name", .string("n")), ("a", .array([.number("1.0"), .null]))]),
                    createOnly: true
                )
            ),
            ProtobufBytes().message(17, ProtobufBytes().string(1, #"{"name":"n","a":[1.0,null]}"#).varint(2, 1))
        ),
        (
            ApplyChangeRequest(change: .upsertVaults(.array([]), createOnly: false)),
            ProtobufBytes().message(17, ProtobufBytes().string(1, "[]"))
        ),
        (
            ApplyChangeRequest(change: .deleteVault(name: "old")),
            ProtobufBytes().string(1, "old").message(18, ProtobufBytes())
        ),
    ]

    @Test(arguments: handBuilt)
    func matchesHandBuiltBytes(request: ApplyChangeRequest, bytes: ProtobufBytes) throws {
        #expect(try request.payload() == bytes.buffer)
        #expect(try ApplyChangeRequest(wirePayload: bytes.buffer) == request)
    }

    @Test func upsertVaultsSendsTheCompactSerialization() throws {
        let request = ApplyChangeRequest(change: .upsertVaults(Fixtures.vaultJSON, createOnly: false))
        let text = Fixtures.vaultJSON.serialized(.compact)
        #expect(try request.payload() == ProtobufBytes().message(17, ProtobufBytes().string(1, text)).buffer)
    }

    /// Fields a change does not use are ignored when decoding, not refused.
    @Test(arguments: [
        (
            ProtobufBytes().string(1, "ignored").message(17, ProtobufBytes().string(1, "[]")),
            DocumentChange.upsertVaults(.array([]), createOnly: false)
        ),
        (
            ProtobufBytes().string(1, "v").message(13, ProtobufBytes().string(1, "/s").varint(2, 1)),
            .removeVirtualNetworkRule(vault: "v", subnetId: "/s")
        ),
        (
            ProtobufBytes().string(1, "v").message(18, ProtobufBytes().string(1, "future field")),
            .deleteVault(name: "v")
        ),
        // upsert_vaults JSON with insignificant whitespace, as a hand-written client may send it.
        (
            ProtobufBytes().message(17, ProtobufBytes().string(1, " [ {\"name\" : \"n\"} ]\n")),
            .upsertVaults(.array([.object([("name", .string("n"))])]), createOnly: false)
        ),
    ])
    func unusedFieldsAreIgnored(bytes: ProtobufBytes, change: DocumentChange) throws {
        #expect(try ApplyChangeRequest(wirePayload: bytes.buffer).change == change)
    }

    /// Network settings are matched case-insensitively and arrive in their canonical spelling.
    @Test(
        arguments: [
            (("allow", "azureservices", "enabled"), ("Allow", "AzureServices", "Enabled")),
            (("DENY", "NONE", "DISABLED"), ("Deny", "None", "Disabled")),
            (("dEnY", nil, "securedbyperimeter"), ("Deny", nil, "SecuredByPerimeter")),
        ] as [((String?, String?, String?), (String?, String?, String?))]
    )
    func networkSettingsAreMatchedCaseInsensitively(
        given: (String?, String?, String?),
        canonical: (String?, String?, String?)
    ) throws {
        let request = ApplyChangeRequest(
            change: .updateNetwork(vault: "v", defaultAction: given.0, bypass: given.1, publicNetworkAccess: given.2)
        )
        let decoded = try ApplyChangeRequest(wirePayload: try request.payload())
        #expect(
            decoded.change
                == .updateNetwork(
                    vault: "v",
                    defaultAction: canonical.0,
                    bypass: canonical.1,
                    publicNetworkAccess: canonical.2
                )
        )
    }

    /// Every value of the three proto enums decodes to the spelling of its name, and that spelling
    /// encodes to its number (so a renumbered or added proto value is caught).
    @Test(arguments: [
        (1, "DefaultAction", "DEFAULT_ACTION_"),
        (2, "Bypass", "BYPASS_"),
        (3, "PublicNetworkAccess", "PUBLIC_NETWORK_ACCESS_"),
    ])
    func networkEnumsMatchTheDescriptors(field: Int, enumName: String, prefix: String) throws {
        let descriptor =
            switch field {
            case 1: moat__v1__default_action__descriptor
            case 2: moat__v1__bypass__descriptor
            default: moat__v1__public_network_access__descriptor
            }
        #expect(String(cString: descriptor.name) == "moat.v1.\(enumName)")
        let values = EnumDescriptorTests.values(of: descriptor)
        #expect(values.first { $0.number == 0 }?.name == "\(prefix)UNSPECIFIED")
        for (name, number) in values where number != 0 {
            let bytes = ProtobufBytes().string(1, "v").message(14, ProtobufBytes().varint(field, UInt64(number)))
            guard
                case .updateNetwork(_, let defaultAction, let bypass, let access) =
                    try ApplyChangeRequest(wirePayload: bytes.buffer).change
            else {
                Issue.record("\(name) did not decode as updateNetwork")
                continue
            }
            let spelling = try #require([defaultAction, bypass, access][field - 1], "\(name) decodes as nil")
            #expect(
                EnumDescriptorTests.normalized(spelling)
                    == EnumDescriptorTests.normalized(name, droppingPrefix: prefix),
                "\(name) = \(number) decodes as '\(spelling)'"
            )
            let settings = [field == 1 ? spelling : nil, field == 2 ? spelling : nil, field == 3 ? spelling : nil]
            let request = ApplyChangeRequest(
                change: .updateNetwork(
                    vault: "v",
                    defaultAction: settings[0],
                    bypass: settings[1],
                    publicNetworkAccess: settings[2]
                )
            )
            #expect(try request.payload() == bytes.buffer, "'\(spelling)' does not encode as \(name)")
        }
    }

    static let refusedOnDecode: [(ProtobufBytes, MessageCodingError.Code, String)] = [
        (ProtobufBytes(), .invalidValue, "change"),
        (ProtobufBytes().string(1, "v").string(2, "abc").varint(3, 1), .invalidValue, "change"),
        // A member a later version may add is an unknown field to this one: no change is set.
        (ProtobufBytes().string(1, "v").message(19, ProtobufBytes().string(1, "x")), .invalidValue, "change"),
        (ProtobufBytes().message(14, ProtobufBytes().varint(1, 3)), .invalidValue, "update_network.default_action"),
        (
            ProtobufBytes().message(14, ProtobufBytes().varint(1, 1).varint(2, 3)), .invalidValue,
            "update_network.bypass"
        ),
        (
            ProtobufBytes().message(14, ProtobufBytes().varint(3, 4)), .invalidValue,
            "update_network.public_network_access"
        ),
        (
            ProtobufBytes().message(14, ProtobufBytes().varint(3, signed: -1)), .invalidValue,
            "update_network.public_network_access"
        ),
        (ProtobufBytes().string(1, "v").message(14, ProtobufBytes()), .invalidValue, "update_network"),
        (ProtobufBytes().message(14, ProtobufBytes().varint(1, 0).varint(2, 0)), .invalidValue, "update_network"),
        (
            ProtobufBytes().message(15, ProtobufBytes().message(2, ProtobufBytes().string(1, "get"))), .invalidValue,
            "set_access_policy.entry"
        ),
        (ProtobufBytes().message(17, ProtobufBytes()), .invalidValue, "upsert_vaults.vaults"),
        (ProtobufBytes().message(17, ProtobufBytes().string(1, "not json")), .invalidValue, "upsert_vaults.vaults"),
        (ProtobufBytes().message(17, ProtobufBytes().string(1, "[1,]")), .invalidValue, "upsert_vaults.vaults"),
        (
            ProtobufBytes().message(17, ProtobufBytes().bytes(1, [0x22, 0xff, 0x22])), .invalidValue,
            "upsert_vaults.vaults"
        ),
        (ProtobufBytes().message(17, ProtobufBytes().string(1, "{} {}")), .invalidValue, "upsert_vaults.vaults"),
        // Strings: NUL or invalid UTF-8, named by their path.
        (ProtobufBytes().bytes(1, [0x61, 0xff]).message(18, ProtobufBytes()), .invalidString, "vault"),
        (
            ProtobufBytes().bytes(2, Array("a\u{0}".utf8)).message(18, ProtobufBytes()), .invalidString,
            "expected_revision"
        ),
        (ProtobufBytes().message(10, ProtobufBytes().bytes(1, [0])), .invalidString, "add_ip_rule.value"),
        (ProtobufBytes().message(11, ProtobufBytes().bytes(1, [0xc0, 0xaf])), .invalidString, "remove_ip_rule.value"),
        (
            ProtobufBytes().message(12, ProtobufBytes().bytes(1, [0xed, 0xa0, 0x80])), .invalidString,
            "add_virtual_network_rule.id"
        ),
        (
            ProtobufBytes().message(13, ProtobufBytes().bytes(1, [0x80])), .invalidString,
            "remove_virtual_network_rule.id"
        ),
        (
            ProtobufBytes().message(15, ProtobufBytes().message(1, ProtobufBytes().string(1, "o").bytes(2, [0xfe]))),
            .invalidString, "set_access_policy.entry.application_id"
        ),
        (
            ProtobufBytes().message(
                15,
                ProtobufBytes().message(1, ProtobufBytes().string(1, "o"))
                    .message(3, ProtobufBytes().string(1, "get").bytes(1, [0x41, 0xe2, 0x82]))
            ),
            .invalidString, "set_access_policy.secrets.names[1]"
        ),
        (
            ProtobufBytes().message(16, ProtobufBytes().bytes(1, Array("o\u{0}".utf8))), .invalidString,
            "delete_access_policy.object_id"
        ),
    ]

    @Test(arguments: refusedOnDecode)
    func refusalsOnDecode(bytes: ProtobufBytes, code: MessageCodingError.Code, field: String) {
        let error = #expect(throws: MessageCodingError.self) { try ApplyChangeRequest(wirePayload: bytes.buffer) }
        #expect(error?.code == code)
        #expect(error?.field == field)
        #expect(error?.message.hasPrefix("field '\(field)' ") == true, "\(error?.message ?? "")")
    }

    @Test func nonJSONVaultsAreReportedWithTheParseError() {
        let bytes = ProtobufBytes().message(17, ProtobufBytes().string(1, "{\"name\": }"))
        let error = #expect(throws: MessageCodingError.self) { try ApplyChangeRequest(wirePayload: bytes.buffer) }
        #expect(error?.message.hasPrefix("field 'upsert_vaults.vaults' is not JSON (line 1, column 10: ") == true)
    }

    static let refusedOnEncode: [(ApplyChangeRequest, MessageCodingError.Code, String)] = [
        (
            ApplyChangeRequest(
                change: .updateNetwork(vault: "v", defaultAction: "Allowed", bypass: nil, publicNetworkAccess: nil)
            ),
            .invalidValue, "update_network.default_action"
        ),
        (
            ApplyChangeRequest(
                change: .updateNetwork(vault: "v", defaultAction: "", bypass: nil, publicNetworkAccess: nil)
            ),
            .invalidValue, "update_network.default_action"
        ),
        (
            ApplyChangeRequest(
                change: .updateNetwork(
                    vault: "v",
                    defaultAction: "Allow",
                    bypass: "AzureServices,Logging",
                    publicNetworkAccess: nil
                )
            ),
            .invalidValue, "update_network.bypass"
        ),
        (
            ApplyChangeRequest(
                change: .updateNetwork(vault: "v", defaultAction: nil, bypass: nil, publicNetworkAccess: "Enabled ")
            ),
            .invalidValue, "update_network.public_network_access"
        ),
        (ApplyChangeRequest(change: .addIpRule(vault: "v\u{0}", value: "1.2.3.4")), .invalidString, "vault"),
        (
            ApplyChangeRequest(change: .addIpRule(vault: "v", value: "1.2.3.4\u{0}")), .invalidString,
            "add_ip_rule.value"
        ),
        (ApplyChangeRequest(change: .removeIpRule(vault: "v", value: "\u{0}")), .invalidString, "remove_ip_rule.value"),
        (
            ApplyChangeRequest(
                change: .addVirtualNetworkRule(vault: "v", subnetId: "/s\u{0}", ignoreMissingVnetServiceEndpoint: false)
            ),
            .invalidString, "add_virtual_network_rule.id"
        ),
        (
            ApplyChangeRequest(change: .removeVirtualNetworkRule(vault: "v", subnetId: "\u{0}/s")),
            .invalidString, "remove_virtual_network_rule.id"
        ),
        (
            ApplyChangeRequest(
                change: .setAccessPolicy(vault: "v", objectId: "o\u{0}", applicationId: nil, permissions: [:])
            ),
            .invalidString, "set_access_policy.entry.object_id"
        ),
        (
            ApplyChangeRequest(
                change: .setAccessPolicy(vault: "v", objectId: "o", applicationId: "a\u{0}", permissions: [:])
            ),
            .invalidString, "set_access_policy.entry.application_id"
        ),
        (
            ApplyChangeRequest(
                change: .setAccessPolicy(
                    vault: "v",
                    objectId: "o",
                    applicationId: nil,
                    permissions: [.keys: ["get"], .storage: ["get", "l\u{0}ist"]]
                )
            ),
            .invalidString, "set_access_policy.storage.names[1]"
        ),
        (
            ApplyChangeRequest(change: .deleteAccessPolicy(vault: "v", objectId: "o", applicationId: "\u{0}")),
            .invalidString, "delete_access_policy.application_id"
        ),
        (ApplyChangeRequest(change: .deleteVault(name: "old\u{0}")), .invalidString, "vault"),
        (
            ApplyChangeRequest(change: .deleteVault(name: "old"), expectedRevision: "\u{0}"),
            .invalidString, "expected_revision"
        ),
    ]

    @Test(arguments: refusedOnEncode)
    func refusalsOnEncode(request: ApplyChangeRequest, code: MessageCodingError.Code, field: String) {
        var buffer = ByteBuffer()
        let error = #expect(throws: MessageCodingError.self) { try request.encode(into: &buffer) }
        #expect(error?.code == code)
        #expect(error?.field == field)
        #expect(error?.message.hasPrefix("field '\(field)' ") == true, "\(error?.message ?? "")")
    }

    /// A NUL inside upsert_vaults' JSON is escaped by the serializer, so it travels.
    @Test func nulInVaultJSONTravelsEscaped() throws {
        let vaults = JSONValue.object([("name", .string("a\u{0}b"))])
        let payload = try ApplyChangeRequest(change: .upsertVaults(vaults, createOnly: false)).payload()
        #expect(try ApplyChangeRequest(wirePayload: payload).change == .upsertVaults(vaults, createOnly: false))
    }
}
