import MoatCore
import Testing

/// The request JSON that `moatctl eval` and `moatctl check` read (README.md, "Requests and decisions"), and
/// what they refuse before any decision is made (section 5: exit 2).
@Suite("Request JSON")
struct RequestJSONTests {
    /// One input that must be refused: where the error is reported and a word its message must hold.
    struct Refusal: Sendable, CustomTestStringConvertible {
        let label: String
        let bytes: [UInt8]
        let path: String
        let messageContains: String

        init(_ label: String, _ text: String, path: String, _ messageContains: String) {
            self.init(label, Array(text.utf8), path: path, messageContains)
        }

        init(_ label: String, _ bytes: [UInt8], path: String, _ messageContains: String) {
            self.label = label
            self.bytes = bytes
            self.path = path
            self.messageContains = messageContains
        }

        var testDescription: String { label }
    }

    static let refusals: [Refusal] = [
        // Request JSON that is not JSON.
        Refusal("unterminated object", "{", path: "$", "not JSON"),
        Refusal("empty input", "", path: "$", "not JSON"),
        Refusal("plain words", "vault=contoso-prod", path: "$", "not JSON"),
        Refusal("trailing text", #"{"vault": "contoso-prod"} x"#, path: "$", "not JSON"),
        Refusal(
            "invalid UTF-8 in a string",
            Array(#"{"vault": ""#.utf8) + [0xFF] + Array(#""}"#.utf8),
            path: "$",
            "not JSON"
        ),
        // JSON, but not a request object.
        Refusal("a top-level array", "[]", path: "$", "expected an object"),
        Refusal("a top-level string", #""contoso-prod""#, path: "$", "expected an object"),
        Refusal("top-level null", "null", path: "$", "expected an object"),
        // A field of the wrong type.
        Refusal("vault is a number", #"{"vault": 3}"#, path: "vault", "expected a string"),
        Refusal("operation is a boolean", #"{"operation": true}"#, path: "operation", "expected a string"),
        Refusal("token is an object", #"{"token": {}}"#, path: "token", "expected a string"),
        Refusal(
            "sourceAddress is an array",
            #"{"sourceAddress": ["203.0.113.9"]}"#,
            path: "sourceAddress",
            "expected a string"
        ),
        Refusal("negative timeoutMicros", #"{"timeoutMicros": -1}"#, path: "timeoutMicros", "non-negative integer"),
        Refusal("string timeoutMicros", #"{"timeoutMicros": "5"}"#, path: "timeoutMicros", "non-negative integer"),
        Refusal("fractional timeoutMicros", #"{"timeoutMicros": 1.5}"#, path: "timeoutMicros", "non-negative integer"),
        Refusal(
            "assertedIdentity is an array",
            #"{"assertedIdentity": []}"#,
            path: "assertedIdentity",
            "expected an object"
        ),
        Refusal(
            "assertedIdentity is a string",
            #"{"assertedIdentity": "oid"}"#,
            path: "assertedIdentity",
            "expected an object"
        ),
        Refusal(
            "assertedIdentity.groups is a string",
            #"{"assertedIdentity": {"groups": "90000000-0000-4000-8000-000000000001"}}"#,
            path: "assertedIdentity.groups",
            "expected an array"
        ),
        Refusal(
            "a group that is not a string",
            #"{"assertedIdentity": {"groups": ["90000000-0000-4000-8000-000000000001", 7]}}"#,
            path: "assertedIdentity.groups[1]",
            "expected a string"
        ),
        Refusal(
            "assertedIdentity.tid is a number",
            #"{"assertedIdentity": {"tid": 1}}"#,
            path: "assertedIdentity.tid",
            "expected a string"
        ),
        // A string holding NUL (protobuf-c would truncate it).
        Refusal("NUL in vault", #"{"vault": "a\u0000b"}"#, path: "vault", "NUL"),
        Refusal("NUL in token", #"{"vault": "contoso-prod", "token": "eyJ\u0000"}"#, path: "token", "NUL"),
        Refusal(
            "NUL in assertedIdentity.oid",
            #"{"assertedIdentity": {"oid": "a\u0000"}}"#,
            path: "assertedIdentity.oid",
            "NUL"
        ),
        Refusal(
            "NUL in a group",
            #"{"assertedIdentity": {"groups": ["\u0000"]}}"#,
            path: "assertedIdentity.groups[0]",
            "NUL"
        ),
        // Unknown keys.
        Refusal("a misspelt key", #"{"vaultt": "contoso-prod"}"#, path: "vaultt", "unknown key"),
        Refusal("a key in another letter case", #"{"Vault": "contoso-prod"}"#, path: "Vault", "unknown key"),
        Refusal(
            "an unknown key after known ones",
            #"{"vault": "contoso-prod", "operation": "GetSecret", "objectname": "db-password"}"#,
            path: "objectname",
            "unknown key"
        ),
        Refusal(
            "an unknown key in assertedIdentity",
            #"{"assertedIdentity": {"oid": "a11ce000-0000-4000-8000-000000000001", "upn": "alice"}}"#,
            path: "assertedIdentity.upn",
            "unknown key"
        ),
    ]

    @Test("refused, with the path of the offending value", arguments: refusals)
    func refused(_ refusal: Refusal) {
        do {
            let request = try CheckRequest(json: refusal.bytes)
            Issue.record("accepted: \(request.json)")
        } catch {
            #expect(error.path == refusal.path)
            #expect(
                error.message.lowercased().contains(refusal.messageContains.lowercased()),
                "message: \(error.message)"
            )
            #expect(String(describing: error).hasPrefix("\(refusal.path): "))
        }
    }

    /// Not refused: these reach the engine, which answers them with a decision (a 400 for a missing
    /// vault or operation, an unknown operation or an unparsable address; docs/protocol.md, "Status codes").
    @Test(
        "accepted for the engine to decide",
        arguments: [
            "{}",
            #"{"vault": null, "operation": null, "token": null, "assertedIdentity": null, "timeoutMicros": null}"#,
            #"{"vault": "contoso-prod", "operation": "Frobnicate"}"#,
            #"{"vault": "contoso-prod", "operation": "GetSecret", "sourceAddress": "not-an-address"}"#,
            #"{"vault": "contoso-prod", "operation": "GetSecret", "timeoutMicros": 0}"#,
            #"{"vault": "contoso-prod", "operation": "GetSecret", "timeoutMicros": 18446744073709551615}"#,
            #"{"vault": "ab", "operation": "getsecret", "token": "", "sourceAddress": ""}"#,
            #"{"assertedIdentity": {"oid": null, "groups": null}}"#,
            #"{"assertedIdentity": {}}"#,
        ]
    )
    func accepted(_ text: String) throws {
        _ = try CheckRequest(json: Array(text.utf8))
    }

    @Test("a complete request reads every field")
    func everyField() throws {
        let text = """
            {"vault": "contoso-prod", "operation": "getsecret", "objectName": "db-password",
             "sourceAddress": "203.0.113.9", "subnetId": "/subscriptions/s/subnets/app",
             "privateEndpointId": "/subscriptions/s/privateEndpoints/pe", "requestId": "r-1",
             "timeoutMicros": 250000,
             "assertedIdentity": {"oid": "o", "appid": "a", "tid": "t", "groups": ["g1", "g2"], "xmsMirid": "m"}}
            """
        let request = try CheckRequest(json: Array(text.utf8))
        #expect(request.vault == "contoso-prod")
        #expect(request.operation == Operation(name: "GetSecret"))
        #expect(request.objectName == "db-password")
        #expect(request.sourceAddress == "203.0.113.9")
        #expect(request.subnetId == "/subscriptions/s/subnets/app")
        #expect(request.privateEndpointId == "/subscriptions/s/privateEndpoints/pe")
        #expect(request.requestId == "r-1")
        #expect(request.timeoutMicros == 250_000)
        let identity = try #require(request.assertedIdentity)
        #expect(identity.oid == "o" && identity.appid == "a" && identity.tid == "t" && identity.xmsMirid == "m")
        #expect(identity.groups == ["g1", "g2"])
    }
}
