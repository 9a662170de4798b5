/// Why request JSON was refused (README.md: moatctl exits 2).
public struct RequestJSONError: Error, Sendable, Hashable, CustomStringConvertible {
    /// JSON path of the offending value, `$` for the whole input.
    public var path: String
    public var message: String

    public var description: String { "\(path): \(message)" }
}

extension CheckRequest {
    /// Reads the request JSON of README.md, "Requests and decisions".
    ///
    /// Refused (thrown): input that is not JSON, a field of the wrong type, an unknown key, a string
    /// holding NUL. Not refused: a missing vault or operation, an unknown operation name, an
    /// unparsable address; those are for the engine to answer with a 400 decision.
    public init(json bytes: some Collection<UInt8>) throws(RequestJSONError) {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: bytes)
        } catch {
            throw RequestJSONError(path: "$", message: "not JSON: \(error)")
        }
        try self.init(json: value)
    }

    public init(json value: JSONValue) throws(RequestJSONError) {
        guard case .object(let members) = value else {
            throw RequestJSONError(path: "$", message: "expected an object, found \(value.typeName)")
        }
        self.init()
        for (key, member) in members {
            let path = JSONPath.root.appending(key)
            switch key {
            case "vault": vault = try Self.string(member, path)
            case "operation":
                let name = try Self.string(member, path)
                operation = name.isEmpty ? nil : Operation(name: name)
            case "objectName": objectName = try Self.string(member, path)
            case "sourceAddress": sourceAddress = try Self.string(member, path)
            case "subnetId": subnetId = try Self.string(member, path)
            case "privateEndpointId": privateEndpointId = try Self.string(member, path)
            case "token": token = try Self.string(member, path)
            case "requestId": requestId = try Self.string(member, path)
            case "timeoutMicros":
                if case .null = member { continue }
                guard case .number(let literal) = member, let micros = UInt64(literal) else {
                    throw RequestJSONError(path: path.description, message: "expected a non-negative integer")
                }
                timeoutMicros = micros
            case "assertedIdentity":
                if case .null = member { continue }
                assertedIdentity = try Self.assertedIdentity(member, path)
            default:
                throw RequestJSONError(path: path.description, message: "unknown key")
            }
        }
    }

    private static func string(_ value: JSONValue, _ path: JSONPath) throws(RequestJSONError) -> String {
        switch value {
        case .null: return ""
        case .string(let text):
            guard !text.utf8.contains(0) else {
                throw RequestJSONError(path: path.description, message: "string contains a NUL character")
            }
            return text
        default:
            throw RequestJSONError(path: path.description, message: "expected a string, found \(value.typeName)")
        }
    }

    private static func assertedIdentity(
        _ value: JSONValue,
        _ path: JSONPath
    ) throws(RequestJSONError) -> AssertedIdentity {
        guard case .object(let members) = value else {
            throw RequestJSONError(path: path.description, message: "expected an object, found \(value.typeName)")
        }
        var identity = AssertedIdentity()
        for (key, member) in members {
            let memberPath = path.appending(key)
            switch key {
            case "oid": identity.oid = try string(member, memberPath)
            case "appid": identity.appid = try string(member, memberPath)
            case "tid": identity.tid = try string(member, memberPath)
            case "xmsMirid": identity.xmsMirid = try string(member, memberPath)
            case "groups":
                if case .null = member { continue }
                guard case .array(let items) = member else {
                    throw RequestJSONError(path: memberPath.description, message: "expected an array of strings")
                }
                for (index, item) in items.enumerated() {
                    identity.groups.append(try string(item, memberPath.appending(index)))
                }
            default:
                throw RequestJSONError(path: memberPath.description, message: "unknown key")
            }
        }
        return identity
    }

    /// The request as the JSON of README.md, "Requests and decisions", every field present.
    public var json: JSONValue {
        func text(_ value: String) -> JSONValue { value.isEmpty ? .null : .string(value) }
        var members: [(key: String, value: JSONValue)] = [
            ("vault", text(vault)),
            ("operation", operation.map { .string($0.name) } ?? .null),
            ("objectName", text(objectName)),
            ("sourceAddress", text(sourceAddress)),
            ("subnetId", text(subnetId)),
            ("privateEndpointId", text(privateEndpointId)),
            ("token", text(token)),
            ("requestId", text(requestId)),
            ("timeoutMicros", .number(String(timeoutMicros))),
        ]
        if let identity = assertedIdentity {
            members.append(
                (
                    "assertedIdentity",
                    .object([
                        ("oid", text(identity.oid)),
                        ("appid", text(identity.appid)),
                        ("tid", text(identity.tid)),
                        ("groups", .array(identity.groups.map { .string($0) })),
                        ("xmsMirid", text(identity.xmsMirid)),
                    ])
                )
            )
        }
        return .object(members)
    }
}
